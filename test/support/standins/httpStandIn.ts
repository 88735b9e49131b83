/**
 * A real HTTP server on 127.0.0.1 that records every request and answers
 * with whatever the test's handler says: the base of the stand-ins for the
 * webserver, the metadata service and Sentry's ingest endpoint.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import zlib from 'node:zlib';

export interface RecordedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** Arrival time, ms since the epoch. */
  at: number;
}

export interface Answer {
  status: number;
  body?: unknown;
  /** Never answer (the client's timeout is what is being tested). */
  hang?: boolean;
  /** Answer only after this long. */
  delayMs?: number;
  /** Headers beside its Content-Type. */
  headers?: Record<string, string>;
}

export type Handler = (request: RecordedRequest) => Answer;

export interface HttpStandIn {
  url: string;
  port: number;
  requests: RecordedRequest[];
  /** Replace how it answers from now on. */
  setHandler(handler: Handler): void;
  close(): Promise<void>;
}

export async function startHttpStandIn(handler: Handler, port = 0): Promise<HttpStandIn> {
  let current = handler;
  const requests: RecordedRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      let raw = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') raw = zlib.gunzipSync(raw);
      const recorded: RecordedRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: raw.toString('utf8'),
        at: Date.now(),
      };
      requests.push(recorded);
      const answer = current(recorded);
      if (answer.hang) return;
      const text = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body ?? {});
      const send = () => {
        res.writeHead(answer.status, {
          'Content-Type': typeof answer.body === 'string' ? 'text/plain' : 'application/json',
          ...answer.headers,
        });
        res.end(text);
      };
      if (answer.delayMs) setTimeout(send, answer.delayMs);
      else send();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const actualPort = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${actualPort}`,
    port: actualPort,
    requests,
    setHandler: (next) => {
      current = next;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
