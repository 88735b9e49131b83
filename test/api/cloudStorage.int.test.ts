import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient, type ApiClient } from '../support/api.js';
import {
  CLIENT_SECRET,
  mountedAt,
  mountRequest,
  rcloneMountCommandLines,
  rclonePidServing,
  REFRESH_TOKEN,
  startRemote,
  TOKEN,
  webdavBackends,
} from '../support/cloudRemote.js';
import { publishedPort, removeAllContainers, removeContainer, startContainer } from '../support/engine.js';
import { readFolder } from '../support/mappings.js';
import { startService, TEST_AUTH_SECRET, type RunningService } from '../support/service.js';
import { waitFor } from '../support/wait.js';
import { temporaryRoot } from '../support/tempRoots.js';

describe('cloud storage through a real rclone mount', () => {
  let remoteDir: string;
  let remote: Awaited<ReturnType<typeof startRemote>>;
  let service: RunningService;
  let api: ApiClient;

  beforeAll(async () => {
    await removeAllContainers();
    remoteDir = temporaryRoot('hs-remote-');
    fs.writeFileSync(path.join(remoteDir, 'hello.txt'), 'hello from the remote');
    remote = await startRemote(remoteDir);
    service = await startService({ env: webdavBackends(remote.url) });
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

  it("keeps a running container's mount served across a stop, and the next start adopts it", async () => {
    const container = await startContainer();
    const hostPort = await publishedPort(container.id);
    await waitFor('the folder', () => readFolder(service.mappings, container.id)?.tty !== undefined);
    expect((await api.mount(mountRequest(hostPort, TOKEN))).status).toBe(200);
    const dir = path.join(service.cloudStorage, String(hostPort), 'test_webdav');
    const pid = rclonePidServing(dir);
    expect(pid).toBeDefined();

    api.close();
    expect(await service.stop()).toBe(0);
    // rclone was not ended by the service's exit: the same process serves the same folder.
    expect(mountedAt(dir)).toBe(true);
    expect(rclonePidServing(dir)).toBe(pid);
    expect(await fsp.readFile(path.join(dir, 'hello.txt'), 'utf8')).toBe('hello from the remote');
    expect(fs.readFileSync(path.join(service.cloudStorage, 'users-file.txt'), 'utf8')).toBe('keep me');
    const logs = JSON.stringify(service.logs) + service.otherOutput.join('\n');
    for (const secret of [TOKEN, CLIENT_SECRET, REFRESH_TOKEN, TEST_AUTH_SECRET])
      expect(logs).not.toContain(secret);

    service = await startService({ root: service.root, env: webdavBackends(remote.url) });
    api = await apiClient(service);
    await service.waitForLog('the adoption', (l) => l.msg === 'adopted cloud storage mounts');
    expect(rclonePidServing(dir)).toBe(pid);
    const again = await api.mount(mountRequest(hostPort, TOKEN));
    expect(JSON.parse(again.body)).toMatchObject({
      error: `test_webdav is already mounted for host port ${hostPort}`,
    });
    // Adopted means watched: the container's death unmounts it and stops that rclone.
    await removeContainer(container.id);
    await waitFor('the mount gone', () => !mountedAt(dir) && !fs.existsSync(dir), 20_000);
    await waitFor('its rclone gone', () => rclonePidServing(dir) === undefined, 10_000);
  });
});

describe('cloud storage after a crash', () => {
  let remoteDir: string;
  let remote: Awaited<ReturnType<typeof startRemote>>;
  const services: RunningService[] = [];
  const start = async (root?: string) => {
    const service = await startService({ root, env: webdavBackends(remote.url) });
    services.push(service);
    return service;
  };
  /** A container with its DPI set and the remote mounted. */
  const mountedContainer = async (service: RunningService) => {
    const api = await apiClient(service);
    const container = await startContainer();
    const hostPort = await publishedPort(container.id);
    await waitFor('the folder', () => readFolder(service.mappings, container.id)?.tty !== undefined);
    expect((await api.setDpi(hostPort, 144)).status).toBe(200);
    expect((await api.mount(mountRequest(hostPort, TOKEN))).status).toBe(200);
    api.close();
    const dir = path.join(service.cloudStorage, String(hostPort), 'test_webdav');
    return { container, hostPort, dir, pid: rclonePidServing(dir)! };
  };
  const kill = async (service: RunningService) => {
    service.process.kill('SIGKILL');
    await service.exited;
  };

  beforeAll(async () => {
    await removeAllContainers();
    remoteDir = temporaryRoot('hs-remote-');
    fs.writeFileSync(path.join(remoteDir, 'hello.txt'), 'hello from the remote');
    remote = await startRemote(remoteDir);
  });
  afterAll(async () => {
    await removeAllContainers();
    for (const service of services) if (service.process.exitCode === null) await service.stop();
    await remote.stop();
    fs.rmSync(remoteDir, { recursive: true, force: true });
  });

  it('adopts the mount a killed service left, served by the same rclone, with its container as it was', async () => {
    const first = await start();
    const { container, hostPort, dir, pid } = await mountedContainer(first);
    const tty = readFolder(first.mappings, container.id)!.tty;
    await kill(first);
    expect(rclonePidServing(dir)).toBe(pid);

    const second = await start(first.root);
    await second.waitForLog('the adoption', (l) => l.msg === 'adopted cloud storage mounts');
    expect(mountedAt(dir)).toBe(true);
    expect(rclonePidServing(dir)).toBe(pid);
    expect(await fsp.readFile(path.join(dir, 'hello.txt'), 'utf8')).toBe('hello from the remote');
    const api = await apiClient(second);
    expect((await api.setDpi(hostPort, 192)).status).toBe(200);
    api.close();
    expect(readFolder(second.mappings, container.id)).toMatchObject({ tty, dpi: 192, ready: true });
    await removeContainer(container.id);
    await waitFor('the mount gone', () => !mountedAt(dir) && rclonePidServing(dir) === undefined, 20_000);
    expect(await second.stop()).toBe(0);
  });

  it('cleans up a container that died while the service was down: folder, mount, rclone, TTY', async () => {
    const first = await start();
    const { container, dir } = await mountedContainer(first);
    const tty = readFolder(first.mappings, container.id)!.tty;
    expect(await first.stop()).toBe(0);
    await removeContainer(container.id);

    const second = await start(first.root);
    await waitFor('the folder gone', () => readFolder(second.mappings, container.id) === undefined, 20_000);
    await waitFor('the mount gone', () => !mountedAt(dir) && !fs.existsSync(dir), 20_000);
    await waitFor('its rclone gone', () => rclonePidServing(dir) === undefined, 10_000);
    const next = await startContainer();
    await waitFor('a TTY', () => readFolder(second.mappings, next.id)?.tty !== undefined);
    expect(readFolder(second.mappings, next.id)!.tty).toBe(tty);
    await removeContainer(next.id);
    expect(await second.stop()).toBe(0);
  });

  it('detaches and reports a mount whose rclone died while the service was down', async () => {
    const first = await start();
    const { container, dir, pid } = await mountedContainer(first);
    expect(await first.stop()).toBe(0);
    process.kill(pid, 'SIGKILL');
    await waitFor('rclone gone', () => rclonePidServing(dir) === undefined);

    const second = await start(first.root);
    const reported = await second.waitForLog('the report', (l) =>
      String(l.msg).includes('cloud storage whose rclone died while the service was down'),
    );
    expect(reported.level).toBeGreaterThanOrEqual(50);
    expect(mountedAt(dir)).toBe(false);
    await waitFor('the mount folder removed', () => !fs.existsSync(dir));
    // The container itself is still adopted with its folder.
    expect(readFolder(second.mappings, container.id)?.ready).toBe(true);
    await removeContainer(container.id);
    expect(await second.stop()).toBe(0);
  });

  it('stops an rclone of an earlier run that serves nothing, with a warning and no report', async () => {
    const first = await start();
    const { container, dir, pid } = await mountedContainer(first);
    expect(await first.stop()).toBe(0);
    // An rclone hung after losing its mount: stopped, it cannot notice the unmount and exit as it would.
    process.kill(pid, 'SIGSTOP');
    execFileSync('umount', ['-l', dir]);
    expect(mountedAt(dir)).toBe(false);

    const second = await start(first.root);
    try {
      const warned = await second.waitForLog('the warning', (l) =>
        String(l.msg).includes('rclone processes of an earlier run that served nothing'),
      );
      expect(warned.level).toBe(40);
      expect(warned['mounts']).toEqual([dir]);
      await waitFor('the mount folder removed', () => !fs.existsSync(dir));
      expect(second.logs.some((l) => String(l.msg).includes('died while the service was down'))).toBe(false);
    } finally {
      // The TERM it was sent waits while it is stopped.
      process.kill(pid, 'SIGCONT');
    }
    await waitFor('its rclone gone', () => rclonePidServing(dir) === undefined, 10_000);
    expect(readFolder(second.mappings, container.id)?.ready).toBe(true);
    await removeContainer(container.id);
    expect(await second.stop()).toBe(0);
  });
});
