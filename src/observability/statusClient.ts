/**
 * The client side of the state snapshot: `POST /state_snapshot` with the
 * shared secret in the body, as every API request carries it. The API uses a
 * self-signed certificate; give its PEM as `ca` to pin it (the host name is
 * then not checked, since the certificate itself is what is trusted).
 */
import http from 'node:http';
import https from 'node:https';
import type { StateSnapshot } from './stateSnapshot.js';

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
