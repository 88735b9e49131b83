/**
 * A stop is no worse than a crash: running containers never notice the
 * service stopping, restarting or being killed. Each container bind-mounts
 * the mapping folder read-only, as the fleet's task definitions do, and what
 * it sees is checked from inside it with `docker exec`.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient } from '../support/api.js';
import {
  mountedAt,
  mountRequest,
  rclonePidServing,
  startRemote,
  TOKEN,
  webdavBackends,
} from '../support/cloudRemote.js';
import {
  foldersMatchEngine,
  publishedPort,
  removeAllContainers,
  removeContainer,
  runningIds,
  startContainer,
  startContainers,
  startEngine,
  stopEngine,
} from '../support/engine.js';
import { allFoldersGone, listFolders, readFolder } from '../support/mappings.js';
import { freshRoot, startService, type RunningService } from '../support/service.js';
import { sleep, waitFor } from '../support/wait.js';
import { temporaryRoot } from '../support/tempRoots.js';

const run = promisify(execFile);
const READY_LOG = 'DPI written; the container is ready';

/** What the container reads in its own folder, from inside it. */
async function seenInside(containerId: string) {
  const folder = `/fractal/containerResourceMappings/${containerId}`;
  const { stdout } = await run('docker', [
    'exec',
    containerId,
    'sh',
    '-c',
    `cd ${folder} && cat tty && echo && cat hostPort_for_my_32262_tcp && echo && cat DPI && echo && cat .ready`,
  ]);
  const [tty, hostPort, dpi, ready] = stdout.split('\n');
  return { tty: Number(tty), hostPort: Number(hostPort), dpi: Number(dpi), ready };
}

/** Containers as the fleet starts them: the mapping folder bind-mounted read-only. */
const fleetContainer = (mappings: string) =>
  startContainer({ binds: [`${mappings}:/fractal/containerResourceMappings:ro`] });

/** A seeded generator, so that a failing run can be replayed. */
function seeded(seed: number) {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

/** Mount points the service left under its cloud-storage root. */
function mountsUnder(cloudStorage: string): string[] {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((dir) => dir.startsWith(cloudStorage + path.sep));
}

describe('a stop is no worse than a crash', () => {
  let remoteDir: string;
  let remote: Awaited<ReturnType<typeof startRemote>>;
  let env: Record<string, string>;
  const services: RunningService[] = [];
  const start = async (root?: string, options: { waitForEngine?: boolean } = {}) => {
    const service = await startService({ root, env, ...options });
    services.push(service);
    return service;
  };

  beforeAll(async () => {
    await removeAllContainers();
    remoteDir = temporaryRoot('hs-remote-');
    fs.writeFileSync(path.join(remoteDir, 'hello.txt'), 'hello from the remote');
    remote = await startRemote(remoteDir);
    env = { ...webdavBackends(remote.url), HOST_SERVICE_RELIST_INTERVAL_MS: '1000' };
  });
  afterAll(async () => {
    await removeAllContainers();
    for (const service of services) if (service.process.exitCode === null) await service.stop();
    await remote.stop();
    fs.rmSync(remoteDir, { recursive: true, force: true });
  });

  it('SIGTERM and start again: 20 containers see the same files from inside, 3 mounts keep serving', async () => {
    await removeAllContainers();
    const first = await start();
    const api = await apiClient(first);
    const containers = await Promise.all(Array.from({ length: 20 }, () => fleetContainer(first.mappings)));
    const ports = await Promise.all(containers.map((c) => publishedPort(c.id)));
    await Promise.all(
      ports.map(async (port, i) => expect((await api.setDpi(port, 96 + i)).status).toBe(200)),
    );
    // The first five change their DPI and go back: what they show is a value file, linked as `DPI`.
    for (const [i, port] of ports.slice(0, 5).entries()) {
      expect((await api.setDpi(port, 192)).status).toBe(200);
      expect((await api.setDpi(port, 96 + i)).status).toBe(200);
    }
    for (const port of ports.slice(0, 3))
      expect((await api.mount(mountRequest(port, TOKEN))).status).toBe(200);
    api.close();
    const dirs = ports.slice(0, 3).map((port) => path.join(first.cloudStorage, String(port), 'test_webdav'));
    const pids = dirs.map(rclonePidServing);
    const before = await Promise.all(containers.map((c) => seenInside(c.id)));
    expect(before.map((b) => b.ready)).toEqual(containers.map(() => '.ready'));

    const stoppedAt = Date.now();
    expect(await first.stop('SIGTERM')).toBe(0);
    const stopMs = Date.now() - stoppedAt;
    // While the service is down: every file still there, every mount still served.
    expect(await Promise.all(containers.map((c) => seenInside(c.id)))).toEqual(before);
    for (const dir of dirs)
      expect(await fsp.readFile(path.join(dir, 'hello.txt'), 'utf8')).toBe('hello from the remote');

    const startedAt = Date.now();
    const second = await start(first.root);
    await waitFor(
      'all 20 adopted',
      () => second.logs.filter((l) => l.msg === READY_LOG).length >= 20 || undefined,
      30_000,
      20,
    );
    const adoptMs = Date.now() - startedAt;
    console.log(`stop with 20 containers: ${stopMs} ms; start to all 20 adopted: ${adoptMs} ms`);
    expect(await Promise.all(containers.map((c) => seenInside(c.id)))).toEqual(before);
    expect(dirs.map(rclonePidServing)).toEqual(pids);
    for (const dir of dirs) {
      expect(mountedAt(dir)).toBe(true);
      expect(await fsp.readFile(path.join(dir, 'hello.txt'), 'utf8')).toBe('hello from the remote');
    }

    // A DPI change after the restart reaches the container through the same folder, and so does
    // a change back to a DPI whose value file the first service left.
    const api2 = await apiClient(second);
    expect((await api2.setDpi(ports[4]!, 240)).status).toBe(200);
    expect((await seenInside(containers[4]!.id)).dpi).toBe(240);
    expect((await api2.setDpi(ports[4]!, 192)).status).toBe(200);
    expect((await seenInside(containers[4]!.id)).dpi).toBe(192);
    expect((await api2.setDpi(ports[4]!, 240)).status).toBe(200);
    api2.close();
    expect((await seenInside(containers[4]!.id)).dpi).toBe(240);

    // A newcomer gets a TTY that no running container holds.
    const newcomer = await fleetContainer(second.mappings);
    await waitFor('its TTY', () => readFolder(second.mappings, newcomer.id)?.tty);
    const held = new Set(before.map((b) => b.tty));
    expect(held.has(readFolder(second.mappings, newcomer.id)!.tty!)).toBe(false);
    await removeAllContainers();
    await waitFor('every mount gone', () => mountsUnder(second.cloudStorage).length === 0, 30_000);
    for (const dir of dirs) await waitFor('its rclone gone', () => rclonePidServing(dir) === undefined);
    expect(await second.stop()).toBe(0);
  });

  it('every container keeps its own TTY although the engine lists them in another order', async () => {
    await removeAllContainers();
    const first = await start();
    const [a, b, c] = [
      await fleetContainer(first.mappings),
      await fleetContainer(first.mappings),
      await fleetContainer(first.mappings),
    ];
    await waitFor('3 TTYs', () =>
      [a!, b!, c!].every((x) => readFolder(first.mappings, x.id)?.tty !== undefined),
    );
    await removeContainer(b!.id);
    await waitFor('its folder gone', () => readFolder(first.mappings, b!.id) === undefined);
    // The newest container takes the freed 11: the engine now lists d (11), c (12), a (10).
    const d = await fleetContainer(first.mappings);
    await waitFor('its TTY', () => readFolder(first.mappings, d.id)?.tty !== undefined);
    const ttys = Object.fromEntries([a!, c!, d].map((x) => [x.id, readFolder(first.mappings, x.id)!.tty]));
    expect(Object.values(ttys)).toEqual([10, 12, 11]);
    expect(await first.stop()).toBe(0);

    const second = await start(first.root);
    await waitFor('converged', () => foldersMatchEngine(second.mappings), 10_000);
    await sleep(1500); // a re-list or two: nothing may move
    for (const [id, tty] of Object.entries(ttys)) {
      expect(readFolder(second.mappings, id)!.tty).toBe(tty);
      expect(
        (await run('docker', ['exec', id, 'cat', `/fractal/containerResourceMappings/${id}/tty`])).stdout,
      ).toBe(String(tty));
    }
    expect(await second.stop()).toBe(0);
  });

  it('keeps every folder when the engine does not answer at stop, and the next start converges', async () => {
    await removeAllContainers();
    const first = await start();
    const containers = await Promise.all(Array.from({ length: 4 }, () => fleetContainer(first.mappings)));
    await waitFor('4 folders', async () => (await foldersMatchEngine(first.mappings)).running.length === 4);
    const before = containers.map((c) => readFolder(first.mappings, c.id));
    const pid = (await containers[0]!.inspect()).State.Pid;
    // The engine goes away; its containers run on (live-restore). One of them dies meanwhile.
    await stopEngine();
    try {
      process.kill(pid, 'SIGKILL');
      expect(await first.stop()).toBe(0);
      await first.waitForLog('the warning', (l) =>
        String(l.msg).includes('every folder, TTY and mount is kept'),
      );
      expect(containers.map((c) => readFolder(first.mappings, c.id))).toEqual(before);
    } finally {
      await startEngine();
    }
    const second = await start(first.root);
    const state = await waitFor('converged', () => foldersMatchEngine(second.mappings), 20_000);
    expect(state.running).toEqual(
      containers
        .slice(1)
        .map((c) => c.id)
        .sort(),
    );
    for (const c of containers.slice(1))
      expect(readFolder(second.mappings, c.id)).toEqual(before[containers.indexOf(c)]);
    expect(await second.stop()).toBe(0);
  });

  it('takes over the folders and held files a stopped service kept: a burst after the restart makes none', async () => {
    await removeAllContainers();
    const inodes = (folder: string, prefix: string) =>
      fs
        .readdirSync(folder)
        .filter((n) => n.startsWith(prefix))
        .map((n) => fs.statSync(path.join(folder, n)).ino);
    /** Twenty containers at once, each given its DPI: what a host's burst leaves when it ends. */
    const burst = async (service: RunningService) => {
      const containers = await startContainers(20);
      const ports = await Promise.all(containers.map((c) => publishedPort(c.id)));
      const api = await apiClient(service);
      try {
        await Promise.all(
          ports.map(async (port, i) => expect((await api.setDpi(port, 96 + i)).status).toBe(200)),
        );
      } finally {
        api.close();
      }
      return containers.map((c, i) => ({ id: c.id, port: ports[i]! }));
    };
    const first = await start();
    await burst(first);
    await removeAllContainers();
    await allFoldersGone(first.mappings, 30_000);
    const keptFolders = inodes(first.mappings, '.spare-');
    const [heldFolder] = fs.readdirSync(first.mappings).filter((n) => n.startsWith('.held-'));
    const heldFiles = inodes(path.join(first.mappings, heldFolder!), '.');
    expect(keptFolders.length).toBeGreaterThanOrEqual(20);
    expect(heldFiles).toHaveLength(40);
    expect(await first.stop()).toBe(0);

    const second = await start(first.root);
    const pid = second.process.pid!;
    await waitFor('the kept folders taken over', () => {
      const names = fs.readdirSync(second.mappings).filter((n) => /^\.(spare|held)-/.test(n));
      return (
        names.length > 0 &&
        names.every((n) => n.startsWith(`.spare-${pid}-`) || n.startsWith(`.held-${pid}-`))
      );
    });
    for (const { id, port } of await burst(second)) {
      const folder = path.join(second.mappings, id);
      // Its own files only, with its own values, in a folder and files the first service left.
      expect(readFolder(second.mappings, id)).toMatchObject({
        files: ['.ready', 'DPI', 'hostPort_for_my_32262_tcp', 'tty'],
        hostPort: port,
        ready: true,
      });
      expect(keptFolders).toContain(fs.statSync(folder).ino);
      for (const name of ['DPI', '.ready'])
        expect(heldFiles).toContain(fs.statSync(path.join(folder, name)).ino);
    }
    expect(second.logs.filter((l) => l.level >= 40 && /ahead/.test(String(l.msg)))).toEqual([]);
    await removeAllContainers();
    expect(await second.stop()).toBe(0);
  });

  const seed = Number(process.env['HS_RESTART_SEED'] ?? Date.now() % 100_000);
  it(
    `converges after kill -9 at five moments of a churn of starts, stops, DPI requests and mounts (seed ${seed})`,
    { timeout: 600_000 },
    async () => {
      console.log(`stop/restart churn: seed ${seed} (HS_RESTART_SEED=${seed} replays it)`);
      await removeAllContainers();
      const random = seeded(seed);
      const root = freshRoot();
      /** Every DPI sent to a host port: the file must hold one of them. */
      const dpisSent = new Map<number, Set<number>>();
      let service = await start(root);
      for (let trial = 1; trial <= 5; trial++) {
        const api = await apiClient(service);
        let stop = false;
        let ops = 0;
        const churn = async () => {
          while (!stop) {
            const running = await runningIds();
            const pick = running[Math.floor(random() * running.length)];
            const roll = random();
            try {
              if (running.length < 6 || (roll < 0.35 && running.length < 16)) {
                await fleetContainer(service.mappings);
              } else if (roll < 0.55 && pick) {
                await removeContainer(pick);
              } else if (pick) {
                const port = await publishedPort(pick);
                if (roll < 0.62) await api.mount(mountRequest(port, TOKEN));
                else {
                  const dpi = 96 + Math.floor(random() * 100);
                  if (!dpisSent.has(port)) dpisSent.set(port, new Set());
                  dpisSent.get(port)!.add(dpi);
                  await api.setDpi(port, dpi);
                }
              }
              ops += 1;
            } catch {
              // A container removed by another loop meanwhile: nothing to learn.
            }
          }
        };
        const loops = Promise.all([churn(), churn(), churn()]);
        await sleep(Math.round(300 + random() * 2000));
        await waitFor('five operations', () => ops >= 5, 60_000);
        service.process.kill('SIGKILL');
        await service.exited;
        stop = true;
        await loops;
        api.close();

        service = await start(root, { waitForEngine: false });
        const state = await waitFor(
          `trial ${trial} to converge`,
          () => foldersMatchEngine(service.mappings),
          15_000,
          50,
        );
        expect(new Set(state.ttys).size, `trial ${trial}: a TTY held twice`).toBe(state.ttys.length);
        expect(listFolders(service.mappings)).toEqual(state.running);
        // The folders the killed process made ahead of starts, and the one of the files it held for
        // later writes, are gone; the new process has its own.
        const madeAhead = () =>
          fs.readdirSync(service.mappings).filter((n) => n.startsWith('.spare-') || n.startsWith('.held-'));
        await waitFor(`trial ${trial}: folders made ahead by the new process only`, () => {
          const names = madeAhead();
          const pid = service.process.pid;
          return (
            names.length > 0 &&
            names.every((n) => n.startsWith(`.spare-${pid}-`) || n.startsWith(`.held-${pid}-`))
          );
        });
        const livePorts = new Set(await Promise.all(state.running.map((id) => publishedPort(id))));
        await waitFor(
          `trial ${trial}: no mount of a dead container`,
          () =>
            mountsUnder(service.cloudStorage).every((dir) =>
              livePorts.has(Number(path.basename(path.dirname(dir)))),
            ),
          15_000,
        );
        for (const id of state.running) {
          const folder = readFolder(service.mappings, id)!;
          expect(folder.hostPort).toBe(await publishedPort(id));
          if (folder.ready) expect(dpisSent.get(folder.hostPort!)?.has(folder.dpi!)).toBe(true);
        }
        console.log(
          `trial ${trial}: ${state.running.length} live, ${mountsUnder(service.cloudStorage).length} mounts, converged`,
        );
      }
      await removeAllContainers();
      await waitFor('every mount gone', () => mountsUnder(service.cloudStorage).length === 0, 30_000);
      expect(await service.stop()).toBe(0);
    },
  );
});
