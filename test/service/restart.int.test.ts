/**
 * Crash safety: the service killed with SIGKILL at arbitrary points of a
 * churn, then restarted on the same folders, converges to what the engine
 * says; and so does a service whose engine goes away for a while.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  docker,
  foldersMatchEngine,
  runningIds,
  removeAllContainers,
  removeContainer,
  startContainer,
  startContainers,
  startEngine,
  stopEngine,
} from '../support/engine.js';
import { readFolder } from '../support/mappings.js';
import { freshRoot, startService, type RunningService } from '../support/service.js';
import { sleep, waitFor } from '../support/wait.js';

/** A small seeded generator, so that a failing trial can be replayed. */
function seeded(seed: number) {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

describe('restart after SIGKILL', () => {
  const root = freshRoot();
  let service: RunningService | undefined;

  beforeAll(async () => {
    await removeAllContainers();
    await startContainers(20);
  });
  afterAll(async () => {
    await removeAllContainers();
    if (service) await service.stop();
  });

  const seed = Number(process.env['HS_RESTART_SEED'] ?? Date.now() % 100_000);
  const random = seeded(seed);

  it(
    `converges within 5 s after a kill at 10 points of a churn (seed ${seed})`,
    { timeout: 900_000 },
    async () => {
      console.log(`restart trials: seed ${seed} (HS_RESTART_SEED=${seed} replays them)`);
      let churned = 0;
      for (let trial = 1; trial <= 10; trial++) {
        service = await startService({ root, env: { HOST_SERVICE_RELIST_INTERVAL_MS: '1000' } });
        const killAfterMs = Math.round(200 + random() * 2500);
        let stop = false;
        let opsThisTrial = 0;
        // Three overlapping loops of starts and removals: the kill lands among requests in flight.
        const churnLoop = async () => {
          while (!stop) {
            const running = await runningIds();
            const op = running.length > 10 && random() < 0.5 ? 'remove' : 'start';
            try {
              if (op === 'start') await startContainer();
              else await removeContainer(running[Math.floor(random() * running.length)]!);
              churned += 1;
              opsThisTrial += 1;
            } catch {
              // A container removed twice by overlapping loops: nothing to learn.
            }
          }
        };
        const churn = Promise.all([churnLoop(), churnLoop(), churnLoop()]);
        await sleep(killAfterMs);
        await waitFor('five churn operations', () => opsThisTrial >= 5, 60_000);
        service.process.kill('SIGKILL');
        await service.exited;
        stop = true;
        await churn;

        const restartedAt = Date.now();
        service = await startService({
          root,
          env: { HOST_SERVICE_RELIST_INTERVAL_MS: '1000' },
          waitForEngine: false,
        });
        const state = await waitFor(
          `trial ${trial} (kill after ${killAfterMs} ms) to converge`,
          () => foldersMatchEngine(service!.mappings),
          5_000,
          50,
        );
        const tookMs = Date.now() - restartedAt;
        expect(new Set(state.ttys).size, `trial ${trial}: TTYs shared`).toBe(state.ttys.length);
        expect(Math.min(...state.ttys)).toBeGreaterThanOrEqual(10);
        console.log(
          `trial ${trial}: killed after ${killAfterMs} ms, ${state.running.length} live, converged ${tookMs} ms after restart`,
        );
        await service.process.kill('SIGKILL');
        await service.exited;
        service = undefined;
      }
      expect(churned).toBeGreaterThanOrEqual(50);
    },
  );
});

describe('folders planted before start', () => {
  it('cleans a stale folder and resolves a duplicated TTY', async () => {
    await removeAllContainers();
    const root = freshRoot();
    const mappings = path.join(root, 'fractal/containerResourceMappings');
    const [a, b] = await startContainers(2);
    const plant = (id: string, files: Record<string, string>, mtimeS: number) => {
      fs.mkdirSync(path.join(mappings, id), { recursive: true });
      for (const [name, content] of Object.entries(files))
        fs.writeFileSync(path.join(mappings, id, name), content);
      fs.utimesSync(path.join(mappings, id, 'tty'), mtimeS, mtimeS);
    };
    const portOf = async (id: string) =>
      (await docker.getContainer(id).inspect()).NetworkSettings.Ports['32262/tcp']![0]!.HostPort;
    plant(
      a!.id,
      { hostPort_for_my_32262_tcp: await portOf(a!.id), tty: '15', DPI: '96', '.ready': '.ready' },
      1000,
    );
    plant(b!.id, { hostPort_for_my_32262_tcp: await portOf(b!.id), tty: '15' }, 2000);
    const stale = 'f'.repeat(64);
    plant(stale, { hostPort_for_my_32262_tcp: '39999', tty: '16' }, 1000);

    const service = await startService({ root });
    try {
      const state = await waitFor('convergence', () => foldersMatchEngine(mappings), 10_000);
      expect(state.running).toEqual([a!.id, b!.id].sort());
      expect(readFolder(mappings, a!.id)).toMatchObject({ tty: 15, dpi: 96, ready: true });
      // The loser's folder matches the engine from the start; its new TTY lands a moment later.
      await waitFor('the loser moved to TTY 10', () => readFolder(mappings, b!.id)?.tty === 10, 10_000);
      expect(fs.existsSync(path.join(mappings, stale))).toBe(false);
      const report = await service.waitForLog(
        'the duplicate report',
        (l) => l.level >= 50 && l.containerId === b!.id,
      );
      expect(report.msg).toBe('TTY 15 is held by another container; moved to TTY 10');
    } finally {
      await removeAllContainers();
      expect(await service.stop()).toBe(0);
    }
  });
});

describe('engine outage', () => {
  it(
    'matches the engine exactly after it was stopped for 10 s while containers died and started',
    { timeout: 300_000 },
    async () => {
      await removeAllContainers();
      const service = await startService({ env: { HOST_SERVICE_RELIST_INTERVAL_MS: '1000' } });
      try {
        const before = await startContainers(8);
        await waitFor(
          '8 folders',
          async () => (await foldersMatchEngine(service.mappings)).running.length === 8,
          30_000,
        );
        const pids = await Promise.all(before.slice(0, 4).map(async (c) => (await c.inspect()).State.Pid));
        await stopEngine();
        // Containers outlive the engine (live-restore); kill some of them while it is away.
        for (const pid of pids) process.kill(pid, 'SIGKILL');
        await sleep(10_000);
        await startEngine();
        await startContainers(3);
        await removeContainer(before[5]!.id);
        const state = await waitFor('convergence', () => foldersMatchEngine(service.mappings), 30_000, 100);
        expect(state.running).toHaveLength(8 - 4 + 3 - 1);
        expect(new Set(state.ttys).size).toBe(state.ttys.length);
        expect(service.logs.some((l) => String(l.msg).includes('engine connected'))).toBe(true);
      } finally {
        await removeAllContainers();
        expect(await service.stop()).toBe(0);
      }
    },
  );
});
