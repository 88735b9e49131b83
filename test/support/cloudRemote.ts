/**
 * A cloud-storage remote for tests: `rclone serve webdav` on 127.0.0.1 (it
 * cannot check a bearer token itself), behind a proxy that lets through only
 * `Bearer TOKEN`; and what a test asks of the mounts the service makes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import { freePort } from './api.js';
import { waitFor } from './wait.js';

export const TOKEN = 'bearer-token-7d2e91c4a05b';
export const CLIENT_SECRET = 'client-secret-3a8f62e0d1';
export const REFRESH_TOKEN = 'refresh-token-b64c09e2f7';

export async function startRemote(dir: string) {
  const davPort = await freePort();
  const dav = spawn('rclone', ['serve', 'webdav', dir, '--addr', `127.0.0.1:${davPort}`], {
    stdio: 'ignore',
  });
  const seenAuth: string[] = [];
  const proxy = http.createServer((req, res) => {
    seenAuth.push(req.headers.authorization ?? '');
    if (req.headers.authorization !== `Bearer ${TOKEN}`) {
      res.writeHead(401, { 'WWW-Authenticate': 'Bearer' }).end();
      return;
    }
    const upstream = http.request(
      { host: '127.0.0.1', port: davPort, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const port = (proxy.address() as { port: number }).port;
  await waitFor('rclone serve webdav', async () => {
    const status = await new Promise<number>((resolve) =>
      http
        .request({ host: '127.0.0.1', port: davPort, method: 'OPTIONS', path: '/' }, (r) =>
          resolve(r.statusCode ?? 0),
        )
        .on('error', () => resolve(0))
        .end(),
    );
    return status > 0;
  });
  return {
    url: `http://127.0.0.1:${port}`,
    seenAuth,
    stop: async (): Promise<void> => {
      dav.kill('SIGTERM');
      await new Promise((resolve) => proxy.close(resolve));
    },
    process: dav as ChildProcess,
  };
}

export const mountRequest = (hostPort: number, token: string) => ({
  host_port: hostPort,
  provider: 'test webdav',
  access_token: token,
  refresh_token: REFRESH_TOKEN,
  expiry: '2030-01-01T00:00:00Z',
  token_type: 'Bearer',
  client_id: 'client-id',
  client_secret: CLIENT_SECRET,
});

export const mountedAt = (dir: string) =>
  fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${dir} `);

export function rcloneMountCommandLines(): string[] {
  return fs
    .readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .map((pid) => {
      try {
        return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
      } catch {
        return '';
      }
    })
    .filter((cmd) => cmd.startsWith('rclone mount'));
}

/** The service's setting that makes provider `test webdav` this remote. */
export function webdavBackends(url: string): Record<string, string> {
  return {
    HOST_SERVICE_CLOUD_BACKENDS: JSON.stringify({
      test_webdav: { type: 'webdav', options: { url, vendor: 'other' }, credentials: 'bearer' },
    }),
  };
}

/** The pid of the `rclone mount` serving `dir`, if one runs. */
export function rclonePidServing(dir: string): number | undefined {
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const args = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (args[0]?.endsWith('rclone') && args[1] === 'mount' && args[3] === dir) return Number(pid);
    } catch {
      // Gone meanwhile.
    }
  }
  return undefined;
}
