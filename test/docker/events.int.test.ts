/**
 * The engine client and the event stream against the real private engine,
 * restarted under them: kept-alive connections with many calls in flight,
 * the stream's order (list first) on the first connect and the reconnect,
 * and its event times to the nanosecond.
 */
import type { Readable } from 'node:stream';
import Docker from 'dockerode';
import { firstValueFrom } from 'rxjs';
import { describe, expect, it, vi } from 'vitest';
import type { DockerObservation } from '../../machines/events.js';
import { createDockerClient } from '../../src/docker/client.js';
import { dockerEvents$, engineSourceOf, eventLines$ } from '../../src/docker/events.js';
import { inspectContainer } from '../../src/docker/inspect.js';
import { removeAllContainers, startContainer, startEngine, stopEngine } from '../support/engine.js';
import { sleep, waitFor } from '../support/wait.js';

describe('the list of running containers', () => {
  it('is read on the kept bare connections of a unix socket, and says what dockerode says', async () => {
    await removeAllContainers();
    const container = await startContainer();
    try {
      const docker = createDockerClient();
      const viaDockerode = vi.spyOn(docker, 'listContainers');
      const listed = await firstValueFrom(engineSourceOf(docker).listRunning());
      expect(viaDockerode).not.toHaveBeenCalled();
      viaDockerode.mockRestore();
      const expected = (await docker.listContainers({ filters: { status: ['running'] } })).map((c) => ({
        containerId: c.Id,
        name: (c.Names?.[0] ?? '').replace(/^\//, ''),
      }));
      expect(listed).toEqual(expected);
      expect(listed.map((c) => c.containerId)).toContain(container.id);
    } finally {
      await removeAllContainers();
    }
  });

  it('goes through dockerode for a client that is not ours on a unix socket', async () => {
    const docker = new Docker();
    const viaDockerode = vi.spyOn(docker, 'listContainers');
    await firstValueFrom(engineSourceOf(docker).listRunning());
    expect(viaDockerode).toHaveBeenCalledTimes(1);
  });
});

describe('engine client and event stream across an engine restart', () => {
  it('settles every call in flight when the engine goes, and serves again once it is back', async () => {
    await removeAllContainers();
    const container = await startContainer();
    const docker = createDockerClient();
    let stop = false;
    const outcomes = { answered: 0, failed: 0, answeredAfterRestart: 0 };
    let restarted = false;
    const engine = engineSourceOf(docker);
    // 40 callers, each one call at a time: inspections and the re-list's list (the kept bare connections),
    // and a list through dockerode (its kept-alive agent, `EngineAgent`), which the ECS agent's calls still take.
    const caller = async (n: number) => {
      while (!stop) {
        try {
          if (n % 4 === 0) await firstValueFrom(engine.listRunning());
          else if (n % 4 === 1) await docker.listContainers({ abortSignal: AbortSignal.timeout(5_000) });
          else await inspectContainer(docker, container.id, 5_000);
          outcomes.answered += 1;
          if (restarted) outcomes.answeredAfterRestart += 1;
        } catch {
          outcomes.failed += 1;
          await sleep(20);
        }
      }
    };
    const callers = Array.from({ length: 40 }, (_, n) => caller(n));
    try {
      await waitFor('calls answered', () => outcomes.answered >= 200, 30_000);
      await stopEngine();
      await sleep(1000);
      await startEngine();
      restarted = true;
      await waitFor('calls answered again', () => outcomes.answeredAfterRestart >= 200, 30_000);
    } finally {
      stop = true;
      await Promise.all(callers);
      await removeAllContainers();
    }
    // The outage failed calls, and every caller came back to its loop and ended: none was left hanging.
    expect(outcomes.failed).toBeGreaterThan(0);
  });

  it('lists before it hands over events on the first connect and on the reconnect after a restart', async () => {
    await removeAllContainers();
    const before = await startContainer();
    const seen: DockerObservation[] = [];
    const subscription = dockerEvents$(createDockerClient(), {
      relistIntervalMs: 60_000,
      engineTimeoutMs: 5_000,
      backoffBaseMs: 100,
      backoffMaxMs: 500,
    }).subscribe((o) => seen.push(o));
    const startOf = (id: string) => seen.findIndex((o) => o.type === 'docker.start' && o.containerId === id);
    const listedAfter = (index: number) => seen.findIndex((o, i) => i > index && o.type === 'docker.listed');
    try {
      await waitFor('the first list', () => seen.some((o) => o.type === 'docker.listed'), 10_000);
      expect(seen[0]).toEqual({ type: 'docker.connected' });
      expect(seen[1]).toMatchObject({
        type: 'docker.listed',
        running: [{ containerId: before.id, name: expect.any(String) as string }],
      });
      const live = await startContainer();
      await waitFor('its start', () => startOf(live.id) >= 0, 10_000);

      await stopEngine();
      await waitFor('the loss', () => seen.some((o) => o.type === 'docker.disconnected'), 10_000);
      const lostAt = seen.findIndex((o) => o.type === 'docker.disconnected');
      await startEngine();
      // Started before the stream is back: replayed from `since`, after the reconnect's list.
      const meanwhile = await startContainer();
      await waitFor('its start, replayed or live', () => startOf(meanwhile.id) >= 0, 20_000);
      const relisted = listedAfter(lostAt);
      expect(relisted).toBeGreaterThan(lostAt);
      expect(startOf(meanwhile.id)).toBeGreaterThan(relisted);
      expect(seen[relisted - 1]).toEqual({ type: 'docker.connected' });
    } finally {
      subscription.unsubscribe();
      await removeAllContainers();
    }
  });
});

describe('the event stream', () => {
  it("keeps the engine's timeNano to the nanosecond, as the engine wrote it", async () => {
    await removeAllContainers();
    // What the engine wrote, read off a stream of its own: the digits after the event's last "timeNano":.
    const written = new Map<string, string>();
    const raw = (await new Docker().getEvents({
      filters: { type: ['container'], event: ['start'] },
    })) as unknown as Readable;
    const rawLines = eventLines$(raw).subscribe((line) => {
      const digits = /^\d+/.exec(line.slice(line.lastIndexOf('"timeNano":') + '"timeNano":'.length));
      written.set((JSON.parse(line) as { id: string }).id, digits![0]);
    });
    const seen: DockerObservation[] = [];
    const subscription = dockerEvents$(createDockerClient(), {
      relistIntervalMs: 60_000,
      engineTimeoutMs: 5_000,
    }).subscribe((o) => seen.push(o));
    try {
      await waitFor('the first list', () => seen.some((o) => o.type === 'docker.listed'), 10_000);
      const ids = [(await startContainer()).id, (await startContainer()).id, (await startContainer()).id];
      const timeOf = (id: string) =>
        seen.find((o) => o.type === 'docker.start' && o.containerId === id) as
          Extract<DockerObservation, { type: 'docker.start' }> | undefined;
      await waitFor('every start, both ways', () => ids.every((id) => timeOf(id) && written.has(id)), 10_000);
      for (const id of ids) {
        expect(BigInt(written.get(id)!)).toBeGreaterThan(BigInt(Number.MAX_SAFE_INTEGER));
        expect(timeOf(id)!.timeNano).toBe(written.get(id));
      }
    } finally {
      subscription.unsubscribe();
      rawLines.unsubscribe();
      await removeAllContainers();
    }
  });
});
