/**
 * The client side of the state snapshot: `POST /state_snapshot` with the
 * shared secret in the body, as every API request carries it. The API uses a
 * self-signed certificate; give its PEM as `ca` to pin it (the host name is
 * then not checked, since the certificate itself is what is trusted).
 */
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { DEVELOPMENT_AUTH_SECRET } from '../config.js';
import type { StateSnapshot } from './stateSnapshot.js';
import { errorMessage } from '../../machines/shared.js';

export const STATE_SNAPSHOT_PATH = '/state_snapshot';
const TIMEOUT_MS = 10_000;
const MAX_BODY = 16 * 1024 * 1024;

export interface StatusClientOptions {
  /** Base URL of the API, e.g. https://127.0.0.1:4678 */
  url: string;
  authSecret: string;
  /** PEM of the API's certificate. */
  ca?: string;
}

export class StatusError extends Error {
  constructor(
    readonly status: number | undefined,
    message: string,
  ) {
    super(message);
    this.name = 'StatusError';
  }
}

export function fetchStateSnapshot(options: StatusClientOptions): Promise<StateSnapshot> {
  const url = new URL(STATE_SNAPSHOT_PATH, options.url);
  const body = JSON.stringify({ auth_secret: options.authSecret });
  const request = url.protocol === 'https:' ? https.request : http.request;
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        timeout: TIMEOUT_MS,
        ...(options.ca === undefined ? {} : { ca: options.ca, checkServerIdentity: () => undefined }),
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_BODY) req.destroy(new StatusError(res.statusCode, 'the answer is too large'));
          else chunks.push(chunk);
        });
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode !== 200) {
            reject(new StatusError(res.statusCode, `${url.href} answered ${res.statusCode}: ${text.trim()}`));
            return;
          }
          try {
            resolve(JSON.parse(text) as StateSnapshot);
          } catch {
            reject(new StatusError(200, `${url.href} answered with something other than JSON`));
          }
        });
      },
    );
    req.on('timeout', () =>
      req.destroy(new StatusError(undefined, `${url.href} did not answer in ${TIMEOUT_MS} ms`)),
    );
    req.on('error', reject);
    req.end(body);
  });
}

export type StatusResult = { ok: true; snapshot: StateSnapshot } | { ok: false; message: string };

/**
 * `make status` from its environment. Without settings it asks what `make
 * run` starts: port 4678, the certificate under the development root
 * (`devRoot`, .run/root) and the development secret. Every failure becomes
 * one sentence saying what to do.
 */
export async function statusFromEnvironment(env: NodeJS.ProcessEnv, devRoot: string): Promise<StatusResult> {
  const port = env['HOST_SERVICE_PORT'] || '4678';
  const url = env['HOST_SERVICE_URL'] || `https://127.0.0.1:${port}`;
  const caFile =
    env['HOST_SERVICE_CA_FILE'] ||
    [env['HOST_SERVICE_ROOT'], devRoot, '/']
      .filter((root): root is string => !!root)
      .map((root) => path.join(root, 'fractalprivate', 'cert.pem'))
      .find((file) => fs.existsSync(file));
  const secretSet = !!env['WEBSERVER_AUTH_SECRET'];
  let ca: string | undefined;
  if (caFile !== undefined) {
    try {
      ca = fs.readFileSync(caFile, 'utf8');
    } catch (error) {
      return { ok: false, message: `cannot read the certificate ${caFile}: ${errorMessage(error)}` };
    }
  }
  try {
    const snapshot = await fetchStateSnapshot({
      url,
      authSecret: env['WEBSERVER_AUTH_SECRET'] || DEVELOPMENT_AUTH_SECRET,
      ...(ca === undefined ? {} : { ca }),
    });
    return { ok: true, snapshot };
  } catch (error) {
    return { ok: false, message: explain(error, url, caFile, secretSet) };
  }
}

function explain(error: unknown, url: string, caFile: string | undefined, secretSet: boolean): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH') {
    return `no host service answers at ${url} (is it running? \`make run\` starts one; HOST_SERVICE_PORT or HOST_SERVICE_URL name another)`;
  }
  if (error instanceof StatusError && error.status === 401) {
    const which = secretSet ? 'the WEBSERVER_AUTH_SECRET set here' : 'the development secret';
    return `${url} answered 401 to ${which}: set WEBSERVER_AUTH_SECRET to the auth_secret the service runs with`;
  }
  const message = errorMessage(error);
  if (/certificate|self[- ]signed/i.test(message)) {
    return caFile === undefined
      ? `${url} has a certificate this machine does not trust (${message}): set HOST_SERVICE_CA_FILE to its fractalprivate/cert.pem, or HOST_SERVICE_ROOT`
      : `${url} has a certificate other than ${caFile} (${message}): set HOST_SERVICE_ROOT or HOST_SERVICE_CA_FILE to the running service's`;
  }
  return message;
}
