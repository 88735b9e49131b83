/**
 * What `make status` does with no settings: the development secret, and one
 * clear sentence when nothing answers or the secret is refused.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { statusFromEnvironment } from '../../src/observability/statusClient.js';
import { freePort } from '../support/api.js';

describe('make status without settings', () => {
  let server: http.Server;
  let url: string;
  const secrets: string[] = [];

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const secret = (JSON.parse(body) as { auth_secret: string }).auth_secret;
        secrets.push(secret);
        if (secret !== 'testwebserverauthsecretdev') res.writeHead(401).end('unauthorized');
        else res.writeHead(200, { 'content-type': 'application/json' }).end('{"containers":[]}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('sends the development secret unless WEBSERVER_AUTH_SECRET says otherwise', async () => {
    await expect(statusFromEnvironment({ HOST_SERVICE_URL: url }, '/nonexistent')).resolves.toEqual({
      ok: true,
      snapshot: { containers: [] },
    });
    const refused = await statusFromEnvironment(
      { HOST_SERVICE_URL: url, WEBSERVER_AUTH_SECRET: 'other' },
      '/nonexistent',
    );
    expect(secrets).toEqual(['testwebserverauthsecretdev', 'other']);
    expect(refused).toEqual({
      ok: false,
      message: `${url} answered 401 to the WEBSERVER_AUTH_SECRET set here: set WEBSERVER_AUTH_SECRET to the auth_secret the service runs with`,
    });
  });

  it('says so when no service runs', async () => {
    const port = await freePort();
    const result = await statusFromEnvironment({ HOST_SERVICE_PORT: String(port) }, '/nonexistent');
    expect(result).toEqual({
      ok: false,
      message: `no host service answers at https://127.0.0.1:${port} (is it running? \`make run\` starts one; HOST_SERVICE_PORT or HOST_SERVICE_URL name another)`,
    });
  });
});
