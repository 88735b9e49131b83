/**
 * How events reach Sentry: a POST of each envelope with Node's own HTTP
 * client, through the SDK's `createTransport` (its buffer, rate limits and
 * flush stay the SDK's).
 *
 * Not the SDK's Node transport: it sends each envelope inside
 * `suppressTracing`, which in the light SDK on Node 20 runs an
 * AsyncLocalStorage, and once one has run Node's async hooks stay on for
 * the life of the process. From a host's first report on, every promise,
 * timer and socket then paid for them: 4.68 M instructions a container
 * lifecycle became 6.66-7.09 M (bench/MEASUREMENTS.md, "Sentry's scope
 * turned async hooks on"). This service traces nothing, so there is
 * nothing for that guard to suppress.
 *
 * Hosts reach Sentry directly (the contract names no proxy); envelopes are
 * a few kB, so they go uncompressed.
 */
import http from 'node:http';
import https from 'node:https';
import * as Sentry from '@sentry/node-core/light';

type Transport = ReturnType<typeof Sentry.createTransport>;
type TransportRequest = Parameters<Parameters<typeof Sentry.createTransport>[1]>[0];
type TransportResponse = Awaited<ReturnType<Parameters<typeof Sentry.createTransport>[1]>>;

/**
 * A send that takes longer is abandoned, so that no request to Sentry hangs
 * for good. A shutdown waits for Sentry no longer than its own bound
 * (`SHUTDOWN_FLUSH_MS`, src/composition.ts), whatever this says.
 */
export const SENTRY_REQUEST_TIMEOUT_MS = 5_000;

const firstHeader = (value: string | string[] | undefined) =>
  (Array.isArray(value) ? value[0] : value) ?? null;

export function makeSentryTransport(
  options: Sentry.NodeTransportOptions,
  timeoutMs = SENTRY_REQUEST_TIMEOUT_MS,
): Transport {
  const url = new URL(options.url);
  const client = url.protocol === 'https:' ? https : http;
  const send = (request: TransportRequest) =>
    new Promise<TransportResponse>((resolve, reject) => {
      const post = client.request(
        url,
        { method: 'POST', headers: options.headers, timeout: timeoutMs },
        (answer) => {
          answer.resume();
          resolve({
            statusCode: answer.statusCode,
            headers: {
              'retry-after': firstHeader(answer.headers['retry-after']),
              'x-sentry-rate-limits': firstHeader(answer.headers['x-sentry-rate-limits']),
            },
          });
        },
      );
      post.on('timeout', () => post.destroy(new Error(`Sentry did not answer within ${timeoutMs} ms`)));
      post.on('error', reject);
      post.end(request.body);
    });
  return Sentry.createTransport(options, send);
}
