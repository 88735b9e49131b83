import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient, freePort, type ApiClient } from '../support/api.js';
import { publishedPort, removeAllContainers, removeContainer, startContainer } from '../support/engine.js';
import { readFolder } from '../support/mappings.js';
import { startService, TEST_AUTH_SECRET, type RunningService } from '../support/service.js';
import { waitFor } from '../support/wait.js';

const TOKEN = 'bearer-token-7d2e91c4a05b';
const CLIENT_SECRET = 'client-secret-3a8f62e0d1';
const REFRESH_TOKEN = 'refresh-token-b64c09e2f7';

/**
 * The remote: `rclone serve webdav` on 127.0.0.1 (it cannot check a bearer
 * token itself), behind a proxy that lets through only `Bearer TOKEN`.
 */
async function startRemote(dir: string) {
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

const mountRequest = (hostPort: number, token: string) => ({
  host_port: hostPort,
  provider: 'test webdav',
  access_token: token,
  refresh_token: REFRESH_TOKEN,
  expiry: '2030-01-01T00:00:00Z',
  token_type: 'Bearer',
  client_id: 'client-id',
  client_secret: CLIENT_SECRET,
});

const mountedAt = (dir: string) => fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${dir} `);

function rcloneMountCommandLines(): string[] {
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

describe('cloud storage through a real rclone mount', () => {
  let remoteDir: string;
  let remote: Awaited<ReturnType<typeof startRemote>>;
  let service: RunningService;
  let api: ApiClient;

  beforeAll(async () => {
    await removeAllContainers();
    remoteDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hs-remote-'));
    fs.writeFileSync(path.join(remoteDir, 'hello.txt'), 'hello from the remote');
    remote = await startRemote(remoteDir);
    const backends = {
      test_webdav: { type: 'webdav', options: { url: remote.url, vendor: 'other' }, credentials: 'bearer' },
    };
    service = await startService({ env: { HOST_SERVICE_CLOUD_BACKENDS: JSON.stringify(backends) } });
    api = await apiClient(service);
  });
  afterAll(async () => {
    api.close();
    await removeAllContainers();
    await service.stop();
    await remote.stop();
    fs.rmSync(remoteDir, { recursive: true, force: true });
  });

  it('mounts the remote for a container, serves its files, and unmounts when the container dies', async () => {
    // Files of users that are not ours to remove.
    const keep = path.join(service.cloudStorage, 'users-file.txt');
    fs.writeFileSync(keep, 'keep me');
    const container = await startContainer();
    const hostPort = await publishedPort(container.id);
    await waitFor('the folder', () => readFolder(service.mappings, container.id)?.tty !== undefined);

    const res = await api.mount(mountRequest(hostPort, TOKEN));
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ result: `test_webdav mounted for host port ${hostPort}` });
    const dir = path.join(service.cloudStorage, String(hostPort), 'test_webdav');
    expect(mountedAt(dir)).toBe(true);
    // Asynchronously: the remote's proxy runs in this process and must keep serving while the read waits.
    expect(await fsp.readFile(path.join(dir, 'hello.txt'), 'utf8')).toBe('hello from the remote');
    expect(remote.seenAuth.every((a) => a === `Bearer ${TOKEN}`)).toBe(true);

    // The token is in rclone's environment, never on its command line nor in a log line.
    const commands = rcloneMountCommandLines();
    expect(commands.some((c) => c.includes(dir))).toBe(true);
    for (const secret of [TOKEN, CLIENT_SECRET, REFRESH_TOKEN, TEST_AUTH_SECRET]) {
      expect(commands.join('\n')).not.toContain(secret);
    }

    const again = await api.mount(mountRequest(hostPort, TOKEN));
    expect(again.status).toBe(406);
    expect(JSON.parse(again.body)).toEqual({
      result: '',
      error: `test_webdav is already mounted for host port ${hostPort}`,
    });

    await removeContainer(container.id);
    // The host-port folder goes right after the mount folder, when nothing else is in it.
    await waitFor(
      'the mount and its folders gone',
      () => !mountedAt(dir) && !fs.existsSync(dir) && !fs.existsSync(path.dirname(dir)),
      20_000,
    );
    expect(fs.readFileSync(keep, 'utf8')).toBe('keep me');
    expect(fs.readFileSync(path.join(remoteDir, 'hello.txt'), 'utf8')).toBe('hello from the remote');
    await service.waitForLog(
      'the unmount',
      (l) => l.msg === 'test_webdav unmounted' && l.hostPort === hostPort,
    );
  });

  it('answers 406 within 15 s for a token the remote refuses, and leaves no folder', async () => {
    const container = await startContainer();
    const hostPort = await publishedPort(container.id);
    await waitFor('the folder', () => readFolder(service.mappings, container.id)?.tty !== undefined);
    const started = Date.now();
    const res = await api.mount(mountRequest(hostPort, 'wrong-token'));
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(res.status).toBe(406);
    const body = JSON.parse(res.body) as { result: string; error: string };
    expect(body.result).toBe('');
    expect(body.error).toMatch(/^mounting failed: /);
    const dir = path.join(service.cloudStorage, String(hostPort), 'test_webdav');
    await waitFor('the folder removed', () => !mountedAt(dir) && !fs.existsSync(dir));
    expect(rcloneMountCommandLines().filter((c) => c.includes(dir))).toEqual([]);
    await removeContainer(container.id);
  });

  it('unmounts at service stop, keeping the cloud storage root', async () => {
    const container = await startContainer();
    const hostPort = await publishedPort(container.id);
    await waitFor('the folder', () => readFolder(service.mappings, container.id)?.tty !== undefined);
    expect((await api.mount(mountRequest(hostPort, TOKEN))).status).toBe(200);
    const dir = path.join(service.cloudStorage, String(hostPort), 'test_webdav');
    expect(mountedAt(dir)).toBe(true);

    expect(await service.stop()).toBe(0);
    expect(mountedAt(dir)).toBe(false);
    expect(fs.existsSync(dir)).toBe(false);
    expect(fs.existsSync(service.cloudStorage)).toBe(true);
    expect(fs.readFileSync(path.join(service.cloudStorage, 'users-file.txt'), 'utf8')).toBe('keep me');

    const logs = JSON.stringify(service.logs) + service.otherOutput.join('\n');
    for (const secret of [TOKEN, CLIENT_SECRET, REFRESH_TOKEN, TEST_AUTH_SECRET])
      expect(logs).not.toContain(secret);
  });
});

describe('cloud storage after a crash', () => {
  it('detaches a mount left by a killed service at restart, and still serves its adopted container', async () => {
    await removeAllContainers();
    const remoteDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hs-remote-'));
    const remote = await startRemote(remoteDir);
    const env = {
      HOST_SERVICE_CLOUD_BACKENDS: JSON.stringify({
        test_webdav: { type: 'webdav', options: { url: remote.url, vendor: 'other' }, credentials: 'bearer' },
      }),
    };
    const first = await startService({ env });
    let second: RunningService | undefined;
    try {
      const api = await apiClient(first);
      const container = await startContainer();
      const hostPort = await publishedPort(container.id);
      await waitFor('the folder', () => readFolder(first.mappings, container.id)?.tty !== undefined);
      expect((await api.setDpi(hostPort, 144)).status).toBe(200);
      expect((await api.mount(mountRequest(hostPort, TOKEN))).status).toBe(200);
      api.close();
      const dir = path.join(first.cloudStorage, String(hostPort), 'test_webdav');
      expect(mountedAt(dir)).toBe(true);
      const tty = readFolder(first.mappings, container.id)!.tty;

      first.process.kill('SIGKILL');
      await first.exited;
      second = await startService({ root: first.root, env });
      await second.waitForLog('the stale mount detached', (l) =>
        String(l.msg).includes('detached cloud storage mounts of an earlier run'),
      );
      expect(mountedAt(dir)).toBe(false);
      await waitFor('the stale mount folder removed', () => !fs.existsSync(dir));

      // The container itself was adopted as it was: same TTY, still ready, and the webserver can reach it.
      const api2 = await apiClient(second);
      const again = await api2.setDpi(hostPort, 192);
      api2.close();
      expect(again.status).toBe(200);
      expect(readFolder(second.mappings, container.id)).toMatchObject({ tty, dpi: 192, ready: true });
    } finally {
      await removeAllContainers();
      if (second) expect(await second.stop()).toBe(0);
      await remote.stop();
      fs.rmSync(remoteDir, { recursive: true, force: true });
    }
  });
});
