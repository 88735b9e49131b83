/**
 * The private engine stopped and started again under the running service:
 * with many engine calls in flight over kept-alive connections the service
 * stays up and converges, and the containers the engine takes down with it
 * give their TTYs to the ones started right after it returns.
 */
import { describe, expect, it } from 'vitest';
import {
  docker,
  foldersMatchEngine,
  inPool,
  removeAllContainers,
  runningWithoutPort,
  startContainer,
  startContainers,
  startEngine,
  stopEngine,
} from '../support/engine.js';
import { startEngineOutage } from '../support/engineOutage.js';
import { allFoldersGone, listFolders, readFolder } from '../support/mappings.js';
import { startService, type RunningService } from '../support/service.js';
import { sleep, waitFor } from '../support/wait.js';

/** The service's last warnings and errors, for a failure message. */
function lastWarnings(service: RunningService, count = 40): string {
  return service.logs
    .filter((l) => l.level >= 40)
    .slice(-count)
    .map((l) => `${l.level} ${l.containerId?.slice(0, 12) ?? '-'} ${l.msg}`)
    .join('\n');
}

/** Waits for the folders to match the engine; a timeout says what differs and what the service warned of. */
function converged(service: RunningService, what: string, timeoutMs: number) {
  return waitFor(what, () => foldersMatchEngine(service.mappings), timeoutMs, 100).catch((error: unknown) => {
    throw new Error(`${String(error)}\nthe service's last warnings:\n${lastWarnings(service)}`);
  });
}

/** A service on an engine with no containers, then everything removed and the service stopped with 0. */
async function withService(env: Record<string, string>, test: (service: RunningService) => Promise<void>) {
  await removeAllContainers();
  const service = await startService({ env });
  let exitCode: number | null | undefined;
  try {
    await test(service);
  } finally {
    await removeAllContainers();
    await allFoldersGone(service.mappings, 30_000).catch(() => {});
    exitCode = await service.stop();
  }
  expect(exitCode).toBe(0);
}

function uncaught(service: RunningService) {
  return service.logs.filter((l) => l['origin'] === 'uncaught exception' || l.msg.includes('uncaught'));
}

describe('engine restart', () => {
  it(
    'stays up through an engine restart with many inspections and lists in flight, and converges',
    { timeout: 240_000 },
    // A re-list every 100 ms keeps lists in flight beside the inspections of the starts below.
    () =>
      withService({ HOST_SERVICE_RELIST_INTERVAL_MS: '100' }, async (service) => {
        await startContainers(20);
        await waitFor(
          '20 folders',
          async () => (await foldersMatchEngine(service.mappings)).running.length === 20,
          60_000,
        );
        // 30 containers started as fast as the engine can: their inspections are in flight when it goes.
        const burst = Promise.allSettled(Array.from({ length: 30 }, () => startContainer()));
        await waitFor('the burst under way', () => listFolders(service.mappings).length >= 24, 30_000, 5);
        await stopEngine();
        await burst;
        await sleep(2000);
        await startEngine();
        await startContainers(5);

        const state = await converged(service, 'convergence', 60_000);
        expect(new Set(state.ttys).size).toBe(state.running.length);
        // A start the engine's stop cut off can come back running with no port: rejected, with the reason.
        for (const id of await runningWithoutPort()) {
          const rejected = service.logs.some(
            (l) => l.containerId === id && l.msg.includes('no host port is published for 32262/tcp'),
          );
          expect(rejected, `${id.slice(0, 12)} runs without a port and was not rejected`).toBe(true);
        }
        expect(service.process.exitCode).toBeNull();
        expect(uncaught(service)).toEqual([]);
        expect(service.logs.some((l) => l.msg.includes('unreachable'))).toBe(true);
      }),
  );

  it(
    'gives 4 containers started after the engine returned TTYs 10-13, and removes the folders of the 6 it took down',
    { timeout: 240_000 },
    () =>
      withService({}, async (service) => {
        const dead = await startContainers(6);
        const setUp = await waitFor(
          '6 folders',
          async () => {
            const state = await foldersMatchEngine(service.mappings);
            return state.running.length === 6 ? state : undefined;
          },
          30_000,
        );
        expect([...setUp.ttys].sort((a, b) => a - b)).toEqual([10, 11, 12, 13, 14, 15]);
        const pids = await Promise.all(dead.map(async (c) => (await c.inspect()).State.Pid));

        await stopEngine();
        // Live restore would keep them running; the engine's restart is meant to take them down.
        for (const pid of pids) process.kill(pid, 'SIGKILL');
        await sleep(8000);
        await startEngine();
        const fresh = await inPool([1, 2, 3, 4], 4, () => startContainer());

        const state = await waitFor(
          '4 folders and no other',
          async () => {
            const matched = await foldersMatchEngine(service.mappings);
            return matched.running.length === 4 ? matched : undefined;
          },
          60_000,
          100,
        );
        expect(state.running).toEqual(fresh.map((c) => c.id).sort());
        const ttys = fresh.map((c) => readFolder(service.mappings, c.id)?.tty);
        expect([...ttys].sort()).toEqual([10, 11, 12, 13]);
        for (const c of dead) expect(readFolder(service.mappings, c.id)).toBeUndefined();
        expect((await docker.listContainers()).length).toBe(4);
        expect(service.process.exitCode).toBeNull();
      }),
  );

  it(
    'sets up a container whose inspection met the engine going away, once the engine is back',
    { timeout: 120_000 },
    async () => {
      // The service reaches the engine through a socket that can vanish the moment it asks for the inspection.
      const outage = await startEngineOutage();
      try {
        await withService({ DOCKER_HOST: outage.dockerHost }, async (service) => {
          // Longer than every retry of an inspection put together, once: the container waits for the engine.
          const inspectionMet = outage.outageOn(/GET (\/v[\d.]+)?\/containers\/[0-9a-f]{64}\/json/, 6000);
          const container = await startContainer();
          expect(await inspectionMet).toContain(container.id);

          const state = await converged(service, 'its folder', 30_000);
          expect(state.running).toEqual([container.id]);
          expect(state.ttys).toEqual([10]);
          // Six seconds hold at least four failures: three logged, the fourth reported once, later ones counted.
          const ofIt = service.logs.filter((l) => l.containerId === container.id);
          expect(ofIt.filter((l) => l.msg.startsWith('inspection failed, trying again'))).toHaveLength(3);
          expect(ofIt.filter((l) => l.msg.startsWith('inspection failed 4 times in a row'))).toHaveLength(1);
          expect(service.process.exitCode).toBeNull();
        });
      } finally {
        await outage.close();
      }
    },
  );
});
