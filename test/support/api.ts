/**
 * Requests to the service's HTTPS API as the webserver makes them, trusting
 * exactly the certificate the service wrote into its private folder.
 */
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { TEST_AUTH_SECRET, type RunningService } from './service.js';

export interface ApiResponse {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

export interface ApiClient {
  request(method: string, urlPath: string, body?: string | object | Buffer): Promise<ApiResponse>;
  setDpi(hostPort: number, dpi: number): Promise<ApiResponse>;
  mount(fields: Record<string, unknown>): Promise<ApiResponse>;
  agent: https.Agent;
  close(): void;
}

/** An agent that trusts exactly the certificate the service wrote into `privateDir`. */
export function pinnedAgent(
  privateDir: string,
  options: { keepAlive?: boolean; maxSockets?: number } = {},
): https.Agent {
  return new https.Agent({
    ca: fs.readFileSync(path.join(privateDir, 'cert.pem')),
    // The certificate names the host, and we connect to 127.0.0.1: the pinned CA is the check.
    checkServerIdentity: () => undefined,
    keepAlive: options.keepAlive ?? false,
    maxSockets: options.maxSockets ?? Infinity,
    // With a timeout of its own, the agent heeds the server's `Keep-Alive: timeout=5` and drops an
    // idle connection a second before the server would close it (Node's agent ignores the hint
    // without one). Otherwise a request sent on a kept connection as the server closes it fails
    // with "socket hang up", as it would for any client that keeps connections past that limit.
    timeout: 60_000,
  });
}

/** Waits for the API to listen, then returns a client that pins the service's certificate. */
export async function apiClient(
  service: RunningService,
  options: { keepAlive?: boolean; maxSockets?: number } = {},
): Promise<ApiClient> {
  await service.waitForLog('the API listening', (l) => l.msg === 'HTTPS API listening');
  const agent = pinnedAgent(service.privateDir, options);
  const request = (method: string, urlPath: string, body?: string | object | Buffer) =>
    send(agent, service.port, method, urlPath, body);
  return {
    request,
    setDpi: (hostPort, dpi) =>
      request('PUT', '/set_container_dpi', { auth_secret: TEST_AUTH_SECRET, host_port: hostPort, dpi }),
    mount: (fields) => request('POST', '/mount_cloud_storage', { auth_secret: TEST_AUTH_SECRET, ...fields }),
    agent,
    close: () => agent.destroy(),
  };
}

export function send(
  agent: https.Agent,
  port: number,
  method: string,
  urlPath: string,
  body?: string | object | Buffer,
  headers: Record<string, string> = {},
): Promise<ApiResponse> {
  const payload =
    body === undefined
      ? undefined
      : typeof body === 'string' || Buffer.isBuffer(body)
        ? body
        : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    // Node sends a GET body without framing unless it is told the length.
    const framed =
      payload === undefined ? headers : { 'Content-Length': String(Buffer.byteLength(payload)), ...headers };
    const req = https.request(
      { host: '127.0.0.1', port, method, path: urlPath, agent, headers: framed },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString('utf8'),
            headers: res.headers,
          }),
        );
        res.on('error', reject);
      },
    );
    // The server may hang up while a too-large body is still being sent; its answer is what counts.
    req.on('error', (error) => setTimeout(() => reject(error), 200));
    if (payload !== undefined) req.end(payload);
    else req.end();
  });
}

/** A port that nothing listens on right now (for a container to publish later). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export const json = (body: object) => JSON.stringify(body);
