/**
 * The state snapshot of the real machines, driven with fake implementations
 * (no engine, no files): containers waiting for DPI and running.
 */
import { Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { createActor, createMachine, fromPromise, setup, spawnChild } from 'xstate';
import type { DockerObservation } from '../../machines/events.js';
import { serviceMachine } from '../../machines/service/machine.js';
import {
  createStateClock,
  renderStateTable,
  stateSnapshotOf,
} from '../../src/observability/stateSnapshot.js';
import { fakeContainerMachine, fakeHostMachine } from '../support/fakeMachines.js';
import { waitFor } from '../support/wait.js';

const ports: Record<string, number> = { aaa: 40001, bbb: 40002 };

function startFakeService(now: () => number) {
  const docker$ = new Subject<DockerObservation>();
  const container = fakeContainerMachine(async (input) => ({
    containerId: input.containerId,
    name: `desktop-${input.containerId}`,
    running: true,
    startedAtMs: 1,
    hostPortBindings: [ports[input.containerId]!],
  }));
  const host = fakeHostMachine(container, docker$);
  const machine = serviceMachine.provide({ actors: { host, notifyDeath: fromPromise(async () => {}) } });
  const clock = createStateClock(now);
  const service = createActor(machine, {
    input: {
      host: { ttyCount: 256, dpiTimeoutMs: 60_000, requestWaitMs: 1000, drainTimeoutMs: 1000 },
    },
  });
  clock.watch(service);
  service.start();
  return { service, clock, docker$ };
}

describe('stateSnapshotOf', () => {
  it('reports containers in ttyAssigned and running, the host regions and the time in state', async () => {
    let nowMs = 1_000_000;
    const { service, clock, docker$ } = startFakeService(() => nowMs);
    await waitFor('serving', () => stateSnapshotOf(service, clock, nowMs).host?.state === 'serving');
    docker$.next({ type: 'docker.connected' });
    for (const id of ['aaa', 'bbb'])
      docker$.next({ type: 'docker.start', containerId: id, name: id, timeNano: '1' });
    await waitFor(
      'both waiting for DPI',
      () =>
        stateSnapshotOf(service, clock, nowMs).containers.every((c) => c.state === 'ttyAssigned.waiting') &&
        stateSnapshotOf(service, clock, nowMs).containers.length === 2,
    );

    nowMs += 5000;
    const host = service.getSnapshot().children['host']!;
    host.send({
      type: 'api.request',
      requestId: 'r1',
      request: { kind: 'setDpi', hostPort: 40002, dpi: 144 },
    });
    await waitFor('bbb running', () =>
      stateSnapshotOf(service, clock, nowMs).containers.some((c) => c.state === 'running.idle'),
    );
    nowMs += 2000;

    const snapshot = stateSnapshotOf(service, clock, nowMs);
    expect(snapshot.takenAt).toBe(new Date(nowMs).toISOString());
    expect(snapshot.service).toEqual({ state: 'running.active', inStateMs: 7000 });
    expect(snapshot.host).toEqual({
      state: 'serving',
      regions: { engine: 'connected', api: 'listening', heartbeats: 'beating' },
      inStateMs: 7000,
      ttysInUse: 2,
      ttysAssignable: 246,
      pendingRequests: 0,
    });
    expect(snapshot.containers).toEqual([
      {
        containerId: 'aaa',
        state: 'ttyAssigned.waiting',
        name: 'desktop-aaa',
        hostPort: 40001,
        tty: 10,
        dpi: null,
        mounts: [],
        error: null,
        inStateMs: 7000,
      },
      {
        containerId: 'bbb',
        state: 'running.idle',
        name: 'desktop-bbb',
        hostPort: 40002,
        tty: 11,
        dpi: 144,
        mounts: [],
        error: null,
        inStateMs: 2000,
      },
    ]);
    // Plain JSON: what the API and the CLI print.
    expect(JSON.parse(JSON.stringify(snapshot))).toEqual(snapshot);

    const table = renderStateTable(snapshot);
    expect(table).toMatch(
      /^host\s+serving\s+7\.0 s\s+engine: connected, api: listening, heartbeats: beating, TTYs 2\/246/m,
    );
    expect(table).toMatch(/^aaa\s+ttyAssigned\.waiting\s+40001\s+10\s+-\s+-\s+7\.0 s$/m);
    expect(table).toMatch(/^bbb\s+running\.idle\s+40002\s+11\s+144\s+-\s+2\.0 s$/m);
    service.stop();
  });

  it('has no host while the service is shutting down past it', () => {
    const clock = createStateClock();
    const fake = {
      getSnapshot: () => ({ value: 'notifying', status: 'active', context: {}, children: {} }),
    } as unknown as Parameters<typeof stateSnapshotOf>[0];
    const snapshot = stateSnapshotOf(fake, clock, 0);
    expect(snapshot).toEqual({
      takenAt: '1970-01-01T00:00:00.000Z',
      service: { state: 'notifying', inStateMs: null },
      host: null,
      containers: [],
    });
    expect(renderStateTable(snapshot)).toContain('no containers');
  });
});

describe('createStateClock', () => {
  const region = (id: string) =>
    createMachine({
      id,
      initial: 'idle',
      states: { idle: { on: { go: 'busy', stay: 'idle' } }, busy: { on: { back: 'idle' } } },
    });
  const parent = setup({ actors: { child: region('child') } }).createMachine({
    initial: 'running',
    on: { spawn: { actions: spawnChild('child', { id: 'kid' }) } },
    states: {
      running: { on: { stop: 'stopping' } },
      stopping: { invoke: { src: fromPromise(() => new Promise<void>(() => {})) } },
    },
  });

  it('keeps the entry time while the state stays the same, and moves it when the state changes', () => {
    let t = 1000;
    const clock = createStateClock(() => t);
    const actor = createActor(region('one'));
    clock.watch(actor);
    actor.start();
    t = 2000;
    actor.send({ type: 'stay' });
    expect(clock.enteredAt(actor)).toBe(1000);
    actor.send({ type: 'go' });
    expect(clock.enteredAt(actor)).toBe(2000);
    t = 3000;
    actor.send({ type: 'back' });
    expect(clock.enteredAt(actor)).toBe(3000);
  });

  it('follows machine children as they appear, and not promise or callback actors', () => {
    let t = 1000;
    const clock = createStateClock(() => t);
    const actor = createActor(parent).start();
    clock.watch(actor);
    t = 2000;
    actor.send({ type: 'spawn' });
    const kid = actor.getSnapshot().children['kid']!;
    expect(clock.enteredAt(kid)).toBe(2000);
    t = 3000;
    kid.send({ type: 'go' });
    expect(clock.enteredAt(kid)).toBe(3000);
    expect(clock.enteredAt(actor)).toBe(1000);
    actor.send({ type: 'stop' });
    const promise = Object.values(actor.getSnapshot().children).find((c) => c !== kid)!;
    expect(clock.enteredAt(promise)).toBeUndefined();
    expect(clock.enteredAt(actor)).toBe(3000);
  });

  it('does not turn a child failure into an unhandled error', async () => {
    const failing = setup({
      actors: {
        child: createMachine({
          initial: 'a',
          states: {
            a: {
              entry: () => {
                throw new Error('boom');
              },
            },
          },
        }),
      },
    }).createMachine({
      initial: 'running',
      states: {
        running: { on: { spawn: { actions: spawnChild('child', { id: 'kid' }) } } },
      },
    });
    const clock = createStateClock();
    const actor = createActor(failing).start();
    clock.watch(actor);
    const unhandled: unknown[] = [];
    const onUncaught = (error: unknown) => unhandled.push(error);
    process.prependListener('uncaughtException', onUncaught);
    actor.send({ type: 'spawn' });
    await new Promise((resolve) => setTimeout(resolve, 20));
    process.off('uncaughtException', onUncaught);
    expect(unhandled).toEqual([]);
  });
});
