/**
 * Sentry's web API as a real HTTP server on 127.0.0.1: answers the release,
 * release-file and deploy endpoints `make release` uses, and records every
 * request (headers and body) for the assertions.
 */
import {
  startHttpStandIn,
  type Answer,
  type HttpStandIn,
  type RecordedRequest,
} from '../support/standins/index.js';

export const SENTRY_ORG = 'fleet';
export const SENTRY_PROJECT = 'ecs-host-service';

export interface SentryApiStandIn extends HttpStandIn {
  /** Environment for `make release`, with the given token. */
  envWith(token: string): Record<string, string>;
  /** Answer every request with this status from now on (a Sentry outage); undefined for normal answers. */
  failWith(status: number | undefined): void;
}

const releases = `/api/0/organizations/${SENTRY_ORG}/releases/`;

function answer(request: RecordedRequest): Answer {
  if (request.method !== 'POST') return { status: 405, body: { detail: 'method not allowed' } };
  if (request.path === releases) return { status: 201, body: { version: JSON.parse(request.body).version } };
  if (request.path.startsWith(releases) && request.path.endsWith('/files/'))
    return { status: 201, body: { id: '1' } };
  if (request.path.startsWith(releases) && request.path.endsWith('/deploys/'))
    return { status: 201, body: { id: '1' } };
  return { status: 404, body: { detail: 'not found' } };
}

export async function startSentryApiStandIn(): Promise<SentryApiStandIn> {
  const standIn = await startHttpStandIn(answer);
  return {
    ...standIn,
    envWith: (token) => ({
      SENTRY_URL: standIn.url,
      SENTRY_ORG,
      SENTRY_PROJECT,
      SENTRY_AUTH_TOKEN: token,
      SENTRY_ENVIRONMENT: 'production',
    }),
    failWith: (status) =>
      standIn.setHandler(status === undefined ? answer : () => ({ status, body: { detail: 'unavailable' } })),
  };
}
