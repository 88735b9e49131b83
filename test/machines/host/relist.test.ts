/**
 * The claims that follow a list which found containers dead (an engine
 * restart, a service restart): they wait for the dead containers' TTYs and
 * host ports instead of taking numbers above them. First the pure rules
 * (machines/host/resourceClaims.ts), then the host machine with its container
 * actors and folder removals that finish in an order the test chooses.
 */
import { Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { createActor, fromPromise } from 'xstate';
import { containerIoActions } from '../../../machines/container/machine.js';
import type { DockerObservation, FolderRecord } from '../../../machines/events.js';
import { latestDeaths } from '../../../machines/host/deathsSeen.js';
import type { HostContext } from '../../../machines/host/machine.js';
import {
  claimResources,
  markDiedByList,
  releaseResources,
  supersededHolder,
  type ClaimState,
} from '../../../machines/host/resourceClaims.js';
import { LIST_LAG_MS } from '../../../machines/host/reconciliation.js';
import { claimTty, createTtyTable } from '../../../machines/host/ttyTable.js';
import { fakeContainerMachine, fakeHostMachine } from '../../support/fakeMachines.js';
import { waitFor } from '../../support/wait.js';

const id = (n: number) => n.toString(16).padStart(64, '0');

/** Containers 1..count holding TTYs 10.. and host ports 40001.. */
function stateWithHolders(count: number): ClaimState {
  let ttyTable = createTtyTable(256);
  const hostPorts = new Map<number, string>();
  for (let n = 1; n <= count; n++) {
    ttyTable = claimTty(ttyTable, id(n)).table;
    hostPorts.set(40000 + n, id(n));
  }
  return { ttyTable, hostPorts, diedByList: new Set(), deferredClaims: [] };
}

describe('resourceClaims', () => {
  it('grants the lowest free TTY at once when no list found anybody dead', () => {
    const result = claimResources(stateWithHolders(2), { containerId: id(9), hostPort: 40009 });
    expect(result.answers).toEqual([{ containerId: id(9), type: 'resources.granted', tty: 12 }]);
    expect(result.state.hostPorts.get(40009)).toBe(id(9));
  });

  it('holds a claim while a container a list found dead holds a lower TTY, and grants it that TTY once given back', () => {
    let state = markDiedByList(stateWithHolders(3), [id(1), id(3)]);
    const waiting = claimResources(state, { containerId: id(9), hostPort: 40009 });
    expect(waiting.answers).toEqual([]);
    expect(waiting.state.deferredClaims).toEqual([{ containerId: id(9), hostPort: 40009 }]);
    state = waiting.state;
    // 3 gives back 12 first: 1 still holds 10, lower than 12, so the claim keeps waiting.
    const afterThree = releaseResources(state, id(3));
    expect(afterThree.answers).toEqual([]);
    const afterOne = releaseResources(afterThree.state, id(1));
    expect(afterOne.answers).toEqual([{ containerId: id(9), type: 'resources.granted', tty: 10 }]);
    expect(afterOne.state.deferredClaims).toEqual([]);
    expect(afterOne.state.diedByList.size).toBe(0);
  });

  it('does not wait for a dead container whose TTY is above the one it would grant', () => {
    // 1 and 2 hold 10 and 11; 1 is given back, 2 is alive; 3 died and holds 12.
    let state = markDiedByList(stateWithHolders(3), [id(3)]);
    state = releaseResources(state, id(1)).state;
    const result = claimResources(state, { containerId: id(9), hostPort: 40009 });
    expect(result.answers).toEqual([{ containerId: id(9), type: 'resources.granted', tty: 10 }]);
  });

  it('waits for the host port of a dead container instead of refusing it, but refuses one a live container holds', () => {
    const state = markDiedByList(stateWithHolders(2), [id(2)]);
    const onDeadPort = claimResources(state, { containerId: id(9), hostPort: 40002 });
    expect(onDeadPort.answers).toEqual([]);
    // Decided after the wait too (2 holds TTY 11, below the 12 it would get), and then refused.
    const onLivePort = claimResources(onDeadPort.state, { containerId: id(8), hostPort: 40001 });
    expect(onLivePort.answers).toEqual([]);
    const released = releaseResources(onLivePort.state, id(2));
    expect(released.answers).toEqual([
      { containerId: id(9), type: 'resources.granted', tty: 11 },
      {
        containerId: id(8),
        type: 'resources.denied',
        reason: `host port 40001 already belongs to container ${id(1)}`,
      },
    ]);
  });

  it('waits for a host port alone when the dead container holds no TTY below the one it would grant', () => {
    // 2 holds TTY 11 and host port 40002 and died; 1 (TTY 10) is given back, so 10 is the lowest free.
    let state = markDiedByList(stateWithHolders(2), [id(2)]);
    state = releaseResources(state, id(1)).state;
    expect(claimResources(state, { containerId: id(8), hostPort: 40008 }).answers).toEqual([
      { containerId: id(8), type: 'resources.granted', tty: 10 },
    ]);
    expect(claimResources(state, { containerId: id(9), hostPort: 40002 }).answers).toEqual([]);
  });

  it('ends the wait when the dead-looking container claims itself (it was alive), or a waiting one goes away', () => {
    let state = markDiedByList(stateWithHolders(1), [id(1)]);
    state = claimResources(state, { containerId: id(9), hostPort: 40009 }).state;
    state = claimResources(state, { containerId: id(8), hostPort: 40008 }).state;
    // 8 dies while it waits: its claim goes, 9's stays.
    state = releaseResources(state, id(8)).state;
    expect(state.deferredClaims).toEqual([{ containerId: id(9), hostPort: 40009 }]);
    // 1 claims: it keeps its TTY and is no longer awaited; 9 is decided once something is given back.
    const alive = claimResources(state, { containerId: id(1), hostPort: 40001 });
    expect(alive.answers).toEqual([{ containerId: id(1), type: 'resources.granted', tty: 10 }]);
    expect(alive.state.diedByList.size).toBe(0);
  });

  it('refuses a waiting claim once it can be decided and no TTY is left', () => {
    let state: ClaimState = { ...stateWithHolders(0), ttyTable: createTtyTable(12) };
    state = { ...state, ttyTable: claimTty(claimTty(state.ttyTable, id(1)).table, id(2)).table };
    state = markDiedByList(state, [id(1)]);
    state = claimResources(state, { containerId: id(9), hostPort: 40009 }).state;
    state = claimResources(state, { containerId: id(8), hostPort: 40008 }).state;
    const released = releaseResources(state, id(1));
    expect(released.answers).toEqual([
      { containerId: id(9), type: 'resources.granted', tty: 10 },
      { containerId: id(8), type: 'resources.denied', reason: 'all 2 assignable TTYs are taken' },
    ]);
  });
});

describe('a host port the engine gave to a later container', () => {
  // 1 holds 40001, started at 1 s.
  const startedAt = (containerId: string) => (containerId === id(1) ? 1_000 : undefined);
  const claim = { containerId: id(9), hostPort: 40001 };

  it('shows its holder dead when the claimant started after it', () => {
    expect(supersededHolder(stateWithHolders(1), claim, 1_001, startedAt)).toBe(id(1));
  });

  it('says nothing when the claimant did not start after it, the start is unknown, or the port is its own', () => {
    const state = stateWithHolders(1);
    expect(supersededHolder(state, claim, 1_000, startedAt)).toBeUndefined();
    expect(supersededHolder(state, claim, 5_000, () => undefined)).toBeUndefined();
    expect(
      supersededHolder(state, { containerId: id(1), hostPort: 40001 }, 5_000, startedAt),
    ).toBeUndefined();
    expect(
      supersededHolder(state, { containerId: id(9), hostPort: 40009 }, 5_000, startedAt),
    ).toBeUndefined();
  });

  it('says nothing of a holder already found dead: the claim waits for it anyway', () => {
    const state = markDiedByList(stateWithHolders(1), [id(1)]);
    expect(supersededHolder(state, claim, 5_000, startedAt)).toBeUndefined();
    expect(claimResources(state, claim).answers).toEqual([]);
  });
});

/** The host with fake engine calls; each container's folder removal waits until the test lets it finish. */
function runHost(folders: FolderRecord[] = []) {
  const engine = new Subject<DockerObservation>();
  const inspections = new Map<string, { hostPort: number; startedAtMs: number }>();
  const cleanUps = new Map<string, () => void>();
  const container = fakeContainerMachine(
    async (input) => {
      const fake = inspections.get(input.containerId);
      return {
        containerId: input.containerId,
        name: 'desktop',
        running: fake !== undefined,
        startedAtMs: fake?.startedAtMs ?? 0,
        hostPortBindings: fake ? [fake.hostPort] : [],
      };
    },
    {
      actions: containerIoActions({
        cleanUpContainer: (containerId) => new Promise<void>((resolve) => cleanUps.set(containerId, resolve)),
      }),
    },
  );
  const host = fakeHostMachine(container, engine, {
    actors: { prepareHost: fromPromise(async () => ({ folders })) },
  });
  const actor = createActor(host, {
    input: { ttyCount: 256, dpiTimeoutMs: 60_000, requestWaitMs: 1_000, drainTimeoutMs: 2_000 },
  }).start();
  const context = () => actor.getSnapshot().context as HostContext;
  const stateOf = (n: number) =>
    JSON.stringify(context().containers.get(id(n))?.ref.getSnapshot().value ?? 'gone');
  return {
    engine,
    context,
    stateOf,
    start(n: number, startedAtMs: number, hostPort = 40000 + n) {
      inspections.set(id(n), { hostPort, startedAtMs });
      engine.next({
        type: 'docker.start',
        containerId: id(n),
        name: 'desktop',
        timeNano: `${startedAtMs}000000`,
      });
    },
    /** The engine no longer runs it (inspection says so). */
    forget(n: number) {
      inspections.delete(id(n));
    },
    finishCleanUp: (n: number) => cleanUps.get(id(n))!(),
    cleanUpStarted: (n: number) => cleanUps.has(id(n)),
    serving: () => waitFor('serving', () => actor.getSnapshot().matches('serving'), 2_000, 2),
    /** Until each of these has its files written (`ttyAssigned`). */
    setUp: (...ns: number[]) =>
      waitFor(`${ns.join(', ')} set up`, () => ns.every((n) => stateOf(n).includes('ttyAssigned'))),
    ttyOf: (n: number) => context().containers.get(id(n))?.ref.getSnapshot().context.tty,
  };
}

describe('host: a list older than a death it has not heard of', () => {
  it('does not bring back a container that died and was cleaned up after the list was asked for', async () => {
    const h = runHost();
    await h.serving();
    h.start(1, 1_000);
    await h.setUp(1);
    h.forget(1);
    h.engine.next({ type: 'docker.die', containerId: id(1), timeNano: '6000000000' });
    await waitFor('1 being removed', () => h.cleanUpStarted(1));
    h.finishCleanUp(1);
    await waitFor('1 gone', () => h.stateOf(1) === '"gone"');
    // The list was asked for at 5 s, before the death: it still shows 1 running.
    h.engine.next({
      type: 'docker.listed',
      listedAtMs: 5_000,
      running: [{ containerId: id(1), name: 'desktop' }],
    });
    expect(h.stateOf(1)).toBe('"gone"');
    expect([...latestDeaths(h.context().deathsSeen).keys()]).toEqual([id(1)]);
    // A list asked for well after the death forgets it: nothing older can come any more.
    h.engine.next({ type: 'docker.listed', listedAtMs: 9_000, running: [] });
    expect(h.context().deathsSeen).toBeUndefined();
  });
});

describe('host: a container whose host port the engine gave to a later one', () => {
  it('drains the holder a list could not yet show dead and gives the newcomer its port, not a refusal', async () => {
    const h = runHost();
    await h.serving();
    h.start(1, 1_000);
    await h.setUp(1);
    // The engine restarted without 1. Its list, asked for within LIST_LAG_MS of 1's start, proves nothing.
    h.forget(1);
    h.engine.next({ type: 'docker.listed', listedAtMs: 1_000 + LIST_LAG_MS, running: [] });
    expect(h.stateOf(1)).toContain('ttyAssigned');
    // It hands 1's host port to a newcomer.
    h.start(2, 4_000, 40001);
    await waitFor('1 being removed', () => h.cleanUpStarted(1));
    await waitFor('the newcomer waits', () => h.context().deferredClaims.length === 1);
    h.finishCleanUp(1);
    await h.setUp(2);
    expect(h.ttyOf(2)).toBe(10);
    expect(Object.fromEntries(h.context().hostPorts)).toEqual({ 40001: id(2) });
    expect(h.context().diedByList.size).toBe(0);
  });
});

describe('host: claims after a list that found containers dead', () => {
  it('gives 4 containers started after an engine restart TTYs 10-13, whatever order the 6 dead folders go in', async () => {
    const h = runHost();
    await h.serving();
    for (let n = 1; n <= 6; n++) h.start(n, 1_000 + n);
    await h.setUp(1, 2, 3, 4, 5, 6);
    expect([1, 2, 3, 4, 5, 6].map(h.ttyOf)).toEqual([10, 11, 12, 13, 14, 15]);

    // The engine restarted without them; its list comes first, then the starts it delivered meanwhile.
    for (let n = 1; n <= 6; n++) h.forget(n);
    h.engine.next({ type: 'docker.connected' });
    h.engine.next({ type: 'docker.listed', listedAtMs: 5_000, running: [] });
    for (let n = 11; n <= 14; n++) h.start(n, 6_000 + n);
    await waitFor('6 folders being removed', () => [1, 2, 3, 4, 5, 6].every((n) => h.cleanUpStarted(n)));
    await waitFor('4 claims waiting', () => h.context().deferredClaims.length === 4);
    expect([11, 12, 13, 14].map(h.ttyOf)).toEqual([undefined, undefined, undefined, undefined]);

    // Folders go in an order that gives back high numbers first.
    for (const n of [6, 3, 5, 1, 4, 2]) h.finishCleanUp(n);
    await h.setUp(11, 12, 13, 14);
    expect([11, 12, 13, 14].map(h.ttyOf).sort()).toEqual([10, 11, 12, 13]);
    expect(h.context().diedByList.size).toBe(0);
    expect(h.context().deferredClaims).toEqual([]);
  });

  it('lets a new container wait for the host port a dead one still holds instead of rejecting it', async () => {
    const h = runHost();
    await h.serving();
    h.start(1, 1_000);
    await h.setUp(1);
    h.forget(1);
    h.engine.next({ type: 'docker.listed', listedAtMs: 5_000, running: [] });
    // The restarted engine hands the dead container's host port to a newcomer.
    const newcomer = 101;
    h.start(newcomer, 6_000, 40001);
    await waitFor('1 being removed', () => h.cleanUpStarted(1));
    await waitFor('the newcomer waits', () => h.context().deferredClaims.length === 1);
    h.finishCleanUp(1);
    await h.setUp(newcomer);
    expect(h.ttyOf(newcomer)).toBe(10);
  });

  it('waits for the folders of an earlier run whose containers are gone, and not for those still running', async () => {
    const folder = (n: number, tty: number): FolderRecord => ({
      containerId: id(n),
      hostPort: 40000 + n,
      tty,
      dpi: 96,
      ready: true,
      ttyWrittenAtMs: 1_000,
    });
    const h = runHost([folder(1, 10), folder(2, 11), folder(3, 12)]);
    await h.serving();
    // 2 still runs; 1 and 3 died while the service was down.
    h.start(2, 500);
    h.engine.next({
      type: 'docker.listed',
      listedAtMs: 5_000,
      running: [{ containerId: id(2), name: 'desktop' }],
    });
    h.start(20, 6_000);
    await waitFor('2 adopted', () => h.stateOf(2).includes('running'));
    await waitFor('the newcomer waits', () => h.context().deferredClaims.length === 1);
    await waitFor('1 and 3 being removed', () => h.cleanUpStarted(1) && h.cleanUpStarted(3));
    h.finishCleanUp(3);
    h.finishCleanUp(1);
    await h.setUp(20);
    expect(h.ttyOf(20)).toBe(10);
    expect(h.ttyOf(2)).toBe(11);
  });
});
