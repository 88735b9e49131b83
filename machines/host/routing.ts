/**
 * Where a webserver request goes, and how long one waits for a container
 * that is not there yet. Pure functions of data, tested on their own; the
 * host machine applies them.
 */
import type { ApiRequest } from '../events.js';

/** The container event a request becomes once its container takes requests. */
export function toContainerEvent(requestId: string, request: ApiRequest) {
  switch (request.kind) {
    case 'setDpi':
      return { type: 'dpi.set' as const, requestId, dpi: request.dpi };
    case 'mountCloudStorage':
      return {
        type: 'cloudStorage.mount' as const,
        requestId,
        provider: request.provider,
        credentials: request.credentials,
      };
  }
}

/** The id of the delayed event that ends one request's wait. */
export function pendingTimerId(requestId: string): string {
  return `request-expiry:${requestId}`;
}

export interface RequestWaitFacts {
  /** The whole wait allowed, and (while the engine stream is connected) the short one. */
  requestWaitMs: number;
  connectedRequestWaitMs: number | undefined;
  /** The engine stream is connected: a start on its way would have arrived within the short wait. */
  engineConnected: boolean;
  /** Some container does not hold its host port yet (being inspected, or its claim waits): it may be the one asked for. */
  containerSettingUp: boolean;
}

/**
 * The next delay of a waiting request, or undefined when it has waited long
 * enough. With the stream connected it waits the short wait, and longer only
 * while some container is still being set up. Without the stream nothing can
 * be known, so it waits the whole `requestWaitMs`.
 */
export function nextRequestWait(facts: RequestWaitFacts, waitedMs: number): number | undefined {
  const left = facts.requestWaitMs - waitedMs;
  if (left <= 0) return undefined;
  if (!facts.engineConnected) return left;
  const short = Math.min(facts.connectedRequestWaitMs ?? facts.requestWaitMs, left);
  if (waitedMs === 0) return short;
  return facts.containerSettingUp ? short : undefined;
}
