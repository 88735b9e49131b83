import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  foldersMatchEngine,
  publishedPort,
  removeAllContainers,
  removeContainer,
  startContainer,
  startContainers,
  startEngine,
  stopEngine,
} from '../support/engine.js';
import { SPARE_FOLDER_COUNT } from '../../src/resources/spareFolders.js';
import { apiClient } from '../support/api.js';
import { allFoldersGone, listFolders, readFolder } from '../support/mappings.js';
import { startService, type RunningService } from '../support/service.js';
import { sleep, waitFor } from '../support/wait.js';

const complete = (mappings: string, id: string) => {
  const folder = readFolder(mappings, id);
  return folder?.tty !== undefined && folder.hostPort !== undefined ? folder : undefined;
};

describe('container lifecycle on a real engine', () => {
  let service: RunningService;

  beforeAll(async () => {
    await removeAllContainers();
    service = await startService({ env: { HOST_SERVICE_RELIST_INTERVAL_MS: '1000' } });
  });
  afterEach(async () => {
    await removeAllContainers();
    await allFoldersGone(service.mappings, 20_000);
  });
  afterAll(async () => {
    const code = await service.stop();
    expect(code).toBe(0);
  });

  it('writes the published host port and a TTY of 10 or more for one container', async () => {
    const container = await startContainer();
    const folder = await waitFor('the folder', () => complete(service.mappings, container.id));
    expect(folder.hostPort).toBe(await publishedPort(container.id));
    expect(folder.tty).toBeGreaterThanOrEqual(10);
    expect(folder.files).toEqual(['hostPort_for_my_32262_tcp', 'tty']);
    const dir = path.join(service.mappings, container.id);
    expect(fs.statSync(dir).mode & 0o777).toBe(0o755);
    expect(fs.statSync(path.join(dir, 'tty')).mode & 0o777).toBe(0o644);
    expect(fs.readFileSync(path.join(dir, 'tty'), 'utf8')).toMatch(/^\d+$/);

    await removeContainer(container.id);
    await waitFor('the folder removed', () => readFolder(service.mappings, container.id) === undefined);
  });

  it("one at a time, a dead container's folder serves a later start and its DPI and .ready the next DPI: its own files only, never a stale .ready", async () => {
    const api = await apiClient(service);
    const spares = () => fs.readdirSync(service.mappings).filter((n) => n.startsWith('.spare-'));
    const seen: { folder: number; tty: number }[] = [];
    const dpiFiles: number[][] = [];
    try {
      for (let i = 0; i < 2 * SPARE_FOLDER_COUNT; i++) {
        const container = await startContainer();
        const folder = await waitFor('the folder', () => complete(service.mappings, container.id));
        // Only what this start wrote, with this container's values, whatever the folder held before.
        expect(folder.files).toEqual(['hostPort_for_my_32262_tcp', 'tty']);
        expect(folder.hostPort).toBe(await publishedPort(container.id));
        const dir = path.join(service.mappings, container.id);
        seen.push({ folder: fs.statSync(dir).ino, tty: fs.statSync(path.join(dir, 'tty')).ino });
        // The folder then holds DPI and .ready too when its container dies.
        expect((await api.setDpi(folder.hostPort!, 96 + i)).status).toBe(200);
        const written = readFolder(service.mappings, container.id);
        expect(written?.ready).toBe(true);
        expect(written?.dpi).toBe(96 + i);
        expect(written?.files).toEqual(['.ready', 'DPI', 'hostPort_for_my_32262_tcp', 'tty']);
        expect(fs.readFileSync(path.join(dir, '.ready'), 'utf8')).toBe('.ready');
        dpiFiles.push(['DPI', '.ready'].map((name) => fs.statSync(path.join(dir, name)).ino));
        await removeContainer(container.id);
        await waitFor('the folder gone', () => readFolder(service.mappings, container.id) === undefined);
        await waitFor('the spares back', () => spares().length === SPARE_FOLDER_COUNT);
      }
    } finally {
      api.close();
    }
    // Taken back at each death and taken again, oldest first, four starts later: the same folder
    // and the same tty file, neither made anew.
    for (let i = SPARE_FOLDER_COUNT; i < seen.length; i++) {
      expect(seen[i]).toEqual(seen[i - SPARE_FOLDER_COUNT]);
    }
    // Held at each death, the DPI and .ready are the next container's, made anew only the first time.
    for (let i = 1; i < dpiFiles.length; i++) expect(dpiFiles[i]).toEqual(dpiFiles[0]);
  });

  it('gives 50 concurrent containers 50 distinct TTYs and frees them all when they go; their folders serve the next 50', async () => {
    const spareInodes = () =>
      fs
        .readdirSync(service.mappings)
        .filter((n) => n.startsWith('.spare-'))
        .map((n) => fs.statSync(path.join(service.mappings, n)).ino);
    let kept: number[] = [];
    for (const burst of ['first', 'second']) {
      const containers = await startContainers(50);
      const folders = await waitFor(
        '50 complete folders',
        () => {
          const views = containers.map((c) => complete(service.mappings, c.id));
          return views.every((v) => v !== undefined) ? views : undefined;
        },
        60_000,
      );
      const ttys = folders.map((f) => f!.tty!);
      expect(new Set(ttys).size).toBe(50);
      expect(Math.min(...ttys)).toBeGreaterThanOrEqual(10);
      for (const [i, container] of containers.entries()) {
        expect(folders[i]!.hostPort).toBe(await publishedPort(container.id));
        expect(folders[i]!.files).toEqual(['hostPort_for_my_32262_tcp', 'tty']);
      }
      if (burst === 'second') {
        // Every folder of the second burst is one the first left: none made on the way.
        const inodes = containers.map((c) => fs.statSync(path.join(service.mappings, c.id)).ino);
        expect(inodes.filter((ino) => !kept.includes(ino))).toEqual([]);
      }

      await Promise.all(containers.map((c) => removeContainer(c.id)));
      await allFoldersGone(service.mappings, 30_000);
      // Kept for the next burst, with those made ahead.
      kept = spareInodes();
      expect(kept.length).toBeGreaterThanOrEqual(50);
    }

    const next = await startContainer();
    const folder = await waitFor('the next folder', () => complete(service.mappings, next.id));
    expect(folder.tty).toBe(10);
  });

  it('rejects a container with no published 32262 cleanly', async () => {
    const container = await startContainer({ publish: false });
    // Not ours (a build container, another service): one warning, not an error.
    const line = await service.waitForLog(
      'the warning about the missing port',
      (l) => l.containerId === container.id && l.level === 40,
    );
    expect(line.msg).toContain('no host port is published for 32262/tcp');
    await sleep(300);
    expect(readFolder(service.mappings, container.id)).toBeUndefined();

    // It held no TTY: the next container gets the lowest number.
    const next = await startContainer();
    expect((await waitFor('the next folder', () => complete(service.mappings, next.id))).tty).toBe(10);
  });

  it('ignores the ecs-agent container', async () => {
    const agent = await startContainer({ name: 'ecs-agent' });
    const other = await startContainer();
    await waitFor('the other folder', () => complete(service.mappings, other.id));
    await sleep(300);
    expect(readFolder(service.mappings, agent.id)).toBeUndefined();
    expect(listFolders(service.mappings)).toEqual([other.id]);
  });
});

describe('TTY exhaustion', () => {
  // Hundreds of containers take the engine minutes on a small machine.
  it(
    'gives the 247th concurrent container no TTY, and its TTY to the next one once one dies',
    { timeout: 900_000 },
    async () => {
      await removeAllContainers();
      const service = await startService();
      try {
        const first = await startContainers(246);
        await waitFor(
          '246 complete folders',
          () => first.every((c) => complete(service.mappings, c.id) !== undefined),
          60_000,
          200,
        );
        const extra = await startContainer();
        const line = await service.waitForLog(
          'the exhaustion error',
          (l) => l.containerId === extra.id && l.level >= 50,
        );
        expect(line.msg).toContain('TTYs are taken');
        await sleep(300);
        expect(readFolder(service.mappings, extra.id)).toBeUndefined();

        const victim = first[100]!;
        const freed = complete(service.mappings, victim.id)!.tty;
        await removeContainer(victim.id);
        await waitFor('the victim folder gone', () => readFolder(service.mappings, victim.id) === undefined);
        const next = await startContainer();
        expect((await waitFor('the next folder', () => complete(service.mappings, next.id))).tty).toBe(freed);
      } finally {
        await removeAllContainers();
        await allFoldersGone(service.mappings, 120_000, 200);
        expect(await service.stop()).toBe(0);
      }
    },
  );
});

describe('engine restarts', () => {
  it('converges after the engine is restarted while containers start and die', async () => {
    await removeAllContainers();
    const service = await startService({ env: { HOST_SERVICE_RELIST_INTERVAL_MS: '1000' } });
    try {
      const before = await startContainers(10);
      await waitFor('10 folders', () => before.every((c) => complete(service.mappings, c.id)), 30_000);

      // Churn while the engine goes down and comes back.
      const churn = (async () => {
        const started: string[] = [];
        for (let i = 0; i < 6; i++) {
          try {
            started.push((await startContainer()).id);
          } catch {
            // The engine is down for part of this loop: that is the point.
          }
          await sleep(150);
        }
        return started;
      })();
      await Promise.all(before.slice(0, 5).map((c) => removeContainer(c.id)));
      await stopEngine();
      await sleep(1500);
      await startEngine();
      await churn;
      await Promise.all(before.slice(5, 7).map((c) => removeContainer(c.id)));
      await Promise.all(Array.from({ length: 3 }, () => startContainer()));

      const state = await waitFor(
        'folders to match the engine',
        () => foldersMatchEngine(service.mappings),
        30_000,
        200,
      );
      expect(new Set(state.ttys).size).toBe(state.running.length);
      expect(service.logs.some((l) => l.msg.includes('unreachable'))).toBe(true);
    } finally {
      await removeAllContainers();
      await allFoldersGone(service.mappings, 30_000);
      expect(await service.stop()).toBe(0);
    }
  });
});
