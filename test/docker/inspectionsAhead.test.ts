/**
 * Which inspections are asked for ahead of the container's actor, and which
 * answers its inspection takes, over a fake engine and a fake clock. The
 * same against the real engine and its event stream is in
 * inspectionsAhead.int.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { ContainerInspection, DockerObservation } from '../../machines/events.js';
import { InspectionsAhead } from '../../src/docker/inspectionsAhead.js';

const id = (n: number) => n.toString(16).padStart(64, '0');
const NOW_MS = 1_796_000_000_000;

function setUp(options: { maxEntries?: number } = {}) {
  const clock = { ms: NOW_MS };
  const asked: string[] = [];
  const failing = new Set<string>();
  const inspections = new InspectionsAhead(
    (containerId) => {
      const call = asked.length;
      asked.push(containerId);
      if (failing.has(containerId)) return Promise.reject(new Error(`engine down (call ${call})`));
      return Promise.resolve<ContainerInspection>({
        containerId,
        name: `call ${call}`,
        running: true,
        startedAtMs: NOW_MS,
        hostPortBindings: [32768],
      });
    },
    { maxAgeMs: 1_000, maxEntries: options.maxEntries ?? 64, now: () => clock.ms },
  );
  return { clock, asked, failing, inspections };
}

/** An event of the engine, `agoMs` before the clock's time. */
function start(n: number, clock: { ms: number }, agoMs = 0): DockerObservation {
  return {
    type: 'docker.start',
    containerId: id(n),
    name: `c${n}`,
    timeNano: `${BigInt(clock.ms - agoMs) * 1_000_000n + 123n}`,
  };
}
const die = (n: number, clock: { ms: number }): DockerObservation => ({
  type: 'docker.die',
  containerId: id(n),
  timeNano: `${BigInt(clock.ms) * 1_000_000n}`,
});

describe('inspections asked ahead', () => {
  it('asks as a live start arrives; the container’s inspection takes that answer once, then asks anew', async () => {
    const { clock, asked, inspections } = setUp();
    inspections.observe(start(1, clock, 5));
    expect(asked).toEqual([id(1)]);
    clock.ms += 3;
    expect((await inspections.inspect(id(1))).name).toBe('call 0');
    expect(asked).toEqual([id(1)]);
    // A retry, or any later inspection, is the engine's answer of that moment.
    expect((await inspections.inspect(id(1))).name).toBe('call 1');
    expect(inspections.size).toBe(0);
  });

  it('leaves a start replayed from more than a second ago to the actors', async () => {
    const { clock, asked, inspections } = setUp();
    inspections.observe(start(1, clock, 1_001));
    expect(asked).toEqual([]);
    expect((await inspections.inspect(id(1))).name).toBe('call 0');
  });

  it('does not hand out an answer asked more than a second before the actor asks', async () => {
    const { clock, asked, inspections } = setUp();
    inspections.observe(start(1, clock));
    clock.ms += 1_001;
    expect((await inspections.inspect(id(1))).name).toBe('call 1');
    expect(asked).toEqual([id(1), id(1)]);
  });

  it('forgets the answer when the container dies before its actor asks', async () => {
    const { clock, inspections } = setUp();
    inspections.observe(start(1, clock));
    inspections.observe(die(1, clock));
    expect(inspections.size).toBe(0);
    expect((await inspections.inspect(id(1))).name).toBe('call 1');
  });

  it('takes the latest answer when the same container starts twice', async () => {
    const { clock, inspections } = setUp();
    inspections.observe(start(1, clock));
    clock.ms += 10;
    inspections.observe(start(1, clock));
    expect((await inspections.inspect(id(1))).name).toBe('call 1');
  });

  it('holds at most maxEntries, and lets answers nobody took go after a second', async () => {
    const { clock, asked, inspections } = setUp({ maxEntries: 3 });
    for (let n = 1; n <= 5; n++) inspections.observe(start(n, clock));
    expect(asked).toEqual([id(1), id(2), id(3)]);
    expect(inspections.size).toBe(3);
    // Past the cap a start is inspected when its actor asks, as without this.
    expect((await inspections.inspect(id(5))).name).toBe('call 3');
    clock.ms += 1_001;
    inspections.observe(start(6, clock));
    expect(inspections.size).toBe(1);
    expect(asked.at(-1)).toBe(id(6));
  });

  it('hands a failed answer to the actor, which retries anew; one nobody takes goes unreported', async () => {
    const { clock, failing, inspections } = setUp();
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      failing.add(id(1));
      failing.add(id(2));
      inspections.observe(start(1, clock));
      inspections.observe(start(2, clock));
      await expect(inspections.inspect(id(1))).rejects.toThrow('engine down (call 0)');
      failing.delete(id(1));
      expect((await inspections.inspect(id(1))).name).toBe('call 2');
      inspections.observe(die(2, clock));
      await new Promise((resolve) => setTimeout(resolve, 10));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('ignores every other observation', () => {
    const { clock, asked, inspections } = setUp();
    inspections.observe({ type: 'docker.connected' });
    inspections.observe({ type: 'docker.listed', listedAtMs: clock.ms, running: [] });
    inspections.observe({ type: 'docker.disconnected', reason: 'gone' });
    expect(asked).toEqual([]);
    expect(inspections.size).toBe(0);
  });
});
