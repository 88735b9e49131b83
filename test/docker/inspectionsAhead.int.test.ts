/**
 * Inspections asked ahead (src/docker/inspectionsAhead.ts) on the real
 * private engine's event stream, wired as the service wires them: the start
 * of a live container is inspected as it comes off the stream, its answer
 * is the engine's own, and a start the stream replays later is not asked
 * for again.
 */
import { tap } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { ContainerInspection, DockerObservation } from '../../machines/events.js';
import { createDockerClient } from '../../src/docker/client.js';
import { dockerEvents$ } from '../../src/docker/events.js';
import { inspectContainer } from '../../src/docker/inspect.js';
import { InspectionsAhead } from '../../src/docker/inspectionsAhead.js';
import { removeAllContainers, removeContainer, startContainer } from '../support/engine.js';
import { sleep, waitFor } from '../support/wait.js';

describe('inspections asked ahead on the engine’s event stream', () => {
  it('inspects a live start as it arrives, hands that answer out once, and skips a replayed start', async () => {
    await removeAllContainers();
    const docker = createDockerClient();
    const asked: string[] = [];
    const answers: Promise<ContainerInspection>[] = [];
    const inspections = new InspectionsAhead((containerId) => {
      asked.push(containerId);
      const answer = inspectContainer(docker, containerId, 5_000);
      answers.push(answer);
      return answer;
    });
    const seen: DockerObservation[] = [];
    const watch = (sinceNano?: bigint) =>
      dockerEvents$(docker, { relistIntervalMs: 60_000, engineTimeoutMs: 5_000, sinceNano })
        .pipe(tap((event) => inspections.observe(event)))
        .subscribe((event) => seen.push(event));
    const startSeen = (id: string) => seen.filter((o) => o.type === 'docker.start' && o.containerId === id);

    const live = watch();
    try {
      await waitFor('the first list', () => seen.some((o) => o.type === 'docker.listed'), 10_000);
      const sinceNano = BigInt(Date.now()) * 1_000_000n;
      const container = await startContainer();
      await waitFor('its start', () => startSeen(container.id).length === 1, 10_000);
      // Asked as the event came off the stream, before anything downstream of it ran.
      expect(asked).toEqual([container.id]);

      const inspection = await inspections.inspect(container.id);
      expect(inspection).toBe(await answers[0]);
      expect(inspection).toMatchObject({ containerId: container.id, running: true });
      expect(inspection.hostPortBindings.length).toBeGreaterThan(0);
      // Taken once: the next inspection is the engine's answer of that moment.
      await inspections.inspect(container.id);
      expect(asked).toEqual([container.id, container.id]);

      // The same start replayed from `since`, more than a second after it happened.
      await sleep(1_100);
      const replay = watch(sinceNano);
      try {
        await waitFor('its start, replayed', () => startSeen(container.id).length === 2, 10_000);
        expect(asked).toHaveLength(2);
        expect(inspections.size).toBe(0);
      } finally {
        replay.unsubscribe();
      }

      // A start whose container dies before anyone asks: the answer asked ahead is dropped with the death.
      const shortLived = await startContainer();
      await waitFor('its start', () => startSeen(shortLived.id).length === 1, 10_000);
      expect(inspections.size).toBe(1);
      await removeContainer(shortLived.id);
      await waitFor(
        'its death',
        () => seen.some((o) => o.type === 'docker.die' && o.containerId === shortLived.id),
        10_000,
      );
      expect(inspections.size).toBe(0);
    } finally {
      live.unsubscribe();
      await removeAllContainers();
    }
  });
});
