/**
 * The status command against a stand-in API on 127.0.0.1 that checks the
 * secret as the real one will: the request it sends, the table, the JSON,
 * and the failure on a wrong secret.
 */
import { execFile } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StateSnapshot } from '../../src/observability/stateSnapshot.js';
import { fetchStateSnapshot, StatusError } from '../../src/observability/statusClient.js';
import { repoRoot } from '../support/service.js';

const run = promisify(execFile);
const SECRET = 'the-shared-secret';
const snapshot: StateSnapshot = {
  takenAt: '2030-01-01T00:00:00.000Z',
  service: { state: 'running.active', inStateMs: 90_000 },
  host: {
    state: 'serving',
    regions: { engine: 'connected', api: 'listening', heartbeats: 'beating' },
    inStateMs: 89_000,
    ttysInUse: 1,
    ttysAssignable: 246,
    pendingRequests: 0,
  },
  containers: [
    {
      containerId: 'c0ffee0000000000',
      state: 'running.idle',
      name: 'desktop',
      hostPort: 40001,
      tty: 10,
      dpi: 96,
      mounts: ['dropbox'],
      error: null,
      inStateMs: 61_000,
    },
  ],
};

describe('the status client and command', () => {
  let server: http.Server;
  let url: string;
  const seen: Array<{ method?: string; path?: string; body: string }> = [];

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push({ method: req.method, path: req.url, body });
        const secret = (JSON.parse(body) as { auth_secret?: string }).auth_secret;
        if (secret !== SECRET) {
          res.writeHead(401, { 'content-type': 'text/plain' }).end('unauthorized');
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(snapshot));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('posts the secret in the body to /state_snapshot and returns the snapshot', async () => {
    await expect(fetchStateSnapshot({ url, authSecret: SECRET })).resolves.toEqual(snapshot);
    expect(seen.at(-1)).toEqual({
      method: 'POST',
      path: '/state_snapshot',
      body: `{"auth_secret":"${SECRET}"}`,
    });
  });

  it('fails with the status on a wrong secret', async () => {
    const failure = fetchStateSnapshot({ url, authSecret: 'wrong' });
    await expect(failure).rejects.toBeInstanceOf(StatusError);
    await expect(failure).rejects.toMatchObject({ status: 401 });
  });

  it('`status.ts` prints the table, or JSON, and exits 1 on a refusal', async () => {
    const status = (secret: string, ...args: string[]) =>
      run(process.execPath, ['--import', 'tsx', 'scripts/status.ts', ...args], {
        cwd: repoRoot,
        env: { PATH: process.env['PATH'], HOST_SERVICE_URL: url, WEBSERVER_AUTH_SECRET: secret },
      });
    const table = await status(SECRET);
    expect(table.stdout).toMatch(/^c0ffee000000\s+running\.idle\s+40001\s+10\s+96\s+dropbox\s+1 min 1 s$/m);
    const json = await status(SECRET, '--json');
    expect(JSON.parse(json.stdout)).toEqual(snapshot);
    await expect(status('wrong')).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining('401') });
  }, 60_000);
});
