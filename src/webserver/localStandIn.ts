/**
 * Development without a webserver: a small HTTP server on 127.0.0.1 that
 * answers the handshake and heartbeats the way the webserver does and logs
 * what it receives, so `make run` works on any machine.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../observability/logger.js';

const MAX_BODY_BYTES = 64 * 1024;

export interface LocalWebserver {
  url: string;
  close(): Promise<void>;
}

export async function startLocalWebserver(logger: Logger): Promise<LocalWebserver> {
  const log = logger.child({ component: 'local-webserver' });
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    request.on('end', () => {
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        body = undefined;
      }
      log.info({ method: request.method, path: request.url, body }, 'local webserver received a request');
      const answer = (status: number, payload: unknown) => {
        response.writeHead(status, { 'Content-Type': 'application/json' });
        response.end(JSON.stringify(payload));
      };
      if (request.method === 'POST' && request.url === '/host_service/auth') {
        answer(200, { AuthToken: `local-${randomBytes(8).toString('hex')}` });
      } else if (request.method === 'POST' && request.url === '/host_service/heartbeat') {
        answer(202, { status: 202 });
      } else {
        answer(404, { status: 404 });
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  server.unref();
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  log.warn({ url }, 'no WEBSERVER_URL in development: using the embedded local webserver');
  return {
    url,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
