import { Subject } from 'rxjs';
import { afterAll, describe, expect, it } from 'vitest';
import { createActor, fromCallback, fromPromise, type EventObject } from 'xstate';
import { containerIoActions } from '../../../machines/container/machine.js';
import type { ApiReply, DockerObservation, FolderRecord } from '../../../machines/events.js';
import { hostMachine, type HostContext, type HostEvent } from '../../../machines/host/machine.js';
import { fakeContainerMachine, fakeHostMachine } from '../../support/fakeMachines.js';
import { allTransitions, transitionRecorder } from '../../support/transitionCoverage.js';
import { waitFor } from '../../support/wait.js';

const recorder = transitionRecorder('host');
const id = (n: number) => n.toString(16).padStart(64, '0');

interface FakeContainer {
  hostPort: number;
  startedAtMs: number;
  name?: string;
}

function runHost(
  options: {
    requestWaitMs?: number;
    cleanUpGate?: () => Promise<void>;
    /** Holds each container's start files until it settles. */
    startFilesGate?: () => Promise<void>;
    folders?: FolderRecord[];
    /** How the engine answers at stop: by default it lists the fake engine's containers. */
    listAtStop?: Error;
    /** Holds each inspection's answer until it settles. */
    inspectionGate?: (containerId: string) => Promise<void>;
    /** Holds the engine's answer at stop until it settles. */
    listGate?: () => Promise<void>;
  } = {},
) {
  const engine = new Subject<DockerObservation>();
  const containers = new Map<string, FakeContainer>();
  const replies: ApiReply[] = [];
  const reported: string[] = [];
  const warnings: string[] = [];
  const cleanedUp: string[] = [];
  /** The container I/O in the order it was done: `files <id>`, `dpi <id> <dpi>`. */
  const written: string[] = [];
  let sendToHost: (event: HostEvent) => void = () => {};
  /** Events the host received that a test waits for. */
  const heard: string[] = [];

  const container = fakeContainerMachine(
    async (input) => {
      await options.inspectionGate?.(input.containerId);
      const fake = containers.get(input.containerId);
      // As src/docker/inspect.ts does: a container the engine no longer has is not running.
      if (!fake)
        return {
          containerId: input.containerId,
          name: '',
          running: false,
          startedAtMs: 0,
          hostPortBindings: [],
        };
      return {
        containerId: input.containerId,
        name: fake.name ?? 'desktop',
        running: true,
        startedAtMs: fake.startedAtMs,
        hostPortBindings: [fake.hostPort],
      };
    },
    {
      actions: {
        ...containerIoActions({
          writeStartFiles: async (containerId) => {
            await options.startFilesGate?.();
            written.push(`files ${containerId.slice(-3)}`);
          },
          writeDpi: async (containerId, dpi) => {
            written.push(`dpi ${containerId.slice(-3)} ${dpi}`);
          },
          cleanUpContainer: async (containerId) => {
            cleanedUp.push(containerId);
            await options.cleanUpGate?.();
          },
        }),
        reportError: (_, p) => reported.push(p.message),
        logStep: () => {},
      },
    },
  );
  const host = fakeHostMachine(container, engine, {
    actors: {
      prepareHost: fromPromise(async () => ({ folders: options.folders ?? [] })),
      apiServer: fromCallback(({ sendBack, receive }) => {
        sendToHost = sendBack;
        receive((event) => replies.push(withoutType(event as EventObject & ApiReply)));
      }),
      listRunningContainers: fromPromise(async () => {
        await options.listGate?.();
        if (options.listAtStop) throw options.listAtStop;
        return { running: [...containers.keys()], listedAtMs: Date.now() };
      }),
    },
    actions: {
      reportError: (_, p) => reported.push(p.message),
      logStep: () => {},
      logWarning: (_, p) => warnings.push(p.message),
    },
  });
  const actor = createActor(host, {
    input: {
      ttyCount: 256,
      dpiTimeoutMs: 60_000,
      requestWaitMs: options.requestWaitMs ?? 1_000,
      drainTimeoutMs: 2_000,
    },
    inspect: (inspection) => {
      recorder.inspect(inspection);
      const event = inspection.type === '@xstate.event' ? (inspection.event as HostEvent) : undefined;
      if (event?.type === 'container.inspected' || event?.type === 'container.draining') {
        heard.push(`${event.type} ${event.containerId}`);
      }
    },
  }).start();
  const context = () => actor.getSnapshot().context as HostContext;
  const stateOf = (containerId: string) =>
    JSON.stringify(context().containers.get(containerId)?.ref.getSnapshot().value ?? 'untracked');

  return {
    actor,
    engine,
    replies,
    reported,
    warnings,
    cleanedUp,
    written,
    heard,
    context,
    stateOf,
    /** A container the engine runs, without telling us (as a missed event). */
    known(n: number, fake: FakeContainer) {
      containers.set(id(n), fake);
    },
    /** A container that died without the engine telling us (yet). */
    gone(n: number) {
      containers.delete(id(n));
    },
    /** A container the engine has started (what inspection will find). */
    start(n: number, fake: FakeContainer, timeNano = `${fake.startedAtMs}000000`) {
      containers.set(id(n), fake);
      engine.next({ type: 'docker.start', containerId: id(n), name: fake.name ?? 'desktop', timeNano });
    },
    request(requestId: string, hostPort: number, dpi = 192) {
      sendToHost({ type: 'api.request', requestId, request: { kind: 'setDpi', hostPort, dpi } });
    },
    serving: () => waitFor('serving', () => actor.getSnapshot().matches('serving'), 2_000, 2),
    waitState: (containerId: string, value: string) =>
      waitFor(
        `${containerId.slice(-3)} in ${value} (now ${stateOf(containerId)})`,
        () => stateOf(containerId).includes(value),
        2_000,
        2,
      ),
  };
}

function withoutType(event: EventObject & ApiReply): ApiReply {
  const { type: _type, ...reply } = event;
  return reply as ApiReply;
}

describe('hostMachine', () => {
  it('routes a DPI request to the container that holds the host port', async () => {
    const h = runHost();
    await h.serving();
    h.engine.next({ type: 'docker.connected' });
    h.start(1, { hostPort: 40001, startedAtMs: 1_000 });
    await h.waitState(id(1), 'ttyAssigned');
    expect(Object.fromEntries(h.context().ttyTable.holders)).toEqual({ 10: id(1) });
    expect(Object.fromEntries(h.context().hostPorts)).toEqual({ 40001: id(1) });
    h.request('r1', 40001);
    await waitFor('a reply', () => h.replies.length === 1);
    expect(h.replies[0]).toEqual({
      requestId: 'r1',
      status: 200,
      result: `DPI of container ${id(1)} set to 192`,
    });
  });

  it('holds a request that arrives before the engine start, and expires one whose container never comes', async () => {
    const h = runHost({ requestWaitMs: 150 });
    await h.serving();
    h.request('early', 40002);
    h.request('never', 40999);
    h.start(2, { hostPort: 40002, startedAtMs: 1_000 });
    await waitFor('two replies', () => h.replies.length === 2);
    expect(h.replies).toEqual([
      { requestId: 'early', status: 200, result: `DPI of container ${id(2)} set to 192` },
      { requestId: 'never', status: 406, error: 'no container with host port 40999 after waiting 150 ms' },
    ]);
    expect(h.context().pendingRequests.size).toBe(0);
  });

  it('hands the requests for a host port to its container at the grant; the DPI is written after the start files', async () => {
    let openGate!: () => void;
    const gate = new Promise<void>((resolve) => (openGate = resolve));
    const h = runHost({ startFilesGate: () => gate });
    await h.serving();
    h.engine.next({ type: 'docker.connected' });
    h.request('before the start', 40003, 144);
    h.start(3, { hostPort: 40003, startedAtMs: 1_000 });
    await h.waitState(id(3), 'writingFiles');
    h.request('while it writes', 40003, 96);
    // Both are the container's now: the host holds nothing, and nothing is answered before the files.
    await waitFor('the host to hand them over', () => h.context().pendingRequests.size === 0, 2_000, 2);
    expect(h.context().containers.get(id(3))?.acceptsRequests).toBe(true);
    expect(h.replies).toEqual([]);
    openGate();
    await waitFor('two replies', () => h.replies.length === 2);
    expect(h.replies.map((r) => [r.requestId, r.status])).toEqual([
      ['before the start', 200],
      ['while it writes', 200],
    ]);
    expect(h.written).toEqual(['files 003', 'dpi 003 144', 'dpi 003 96']);
  });

  it('denies a second container on a host port that is taken, and ignores the ECS agent', async () => {
    const h = runHost();
    await h.serving();
    h.start(3, { hostPort: 40003, startedAtMs: 1_000 });
    await h.waitState(id(3), 'ttyAssigned');
    h.start(4, { hostPort: 40003, startedAtMs: 1_000 });
    await h.waitState(id(4), 'rejected');
    expect(h.reported).toContain(`host port 40003 already belongs to container ${id(3)}`);
    h.start(5, { hostPort: 40005, startedAtMs: 1_000, name: 'ecs-agent' });
    expect(h.stateOf(id(5))).toBe('"untracked"');
    expect(Object.fromEntries(h.context().hostPorts)).toEqual({ 40003: id(3) });
  });

  it('reconciles with a re-list: adopts what it missed, drains what died before the list, keeps what started after', async () => {
    const h = runHost();
    await h.serving();
    h.start(6, { hostPort: 40006, startedAtMs: 1_000 });
    h.start(7, { hostPort: 40007, startedAtMs: 9_000 });
    await h.waitState(id(6), 'ttyAssigned');
    await h.waitState(id(7), 'ttyAssigned');
    // Container 8 started while we were not looking; 6 died; 7 started after the list was asked for.
    h.known(8, { hostPort: 40008, startedAtMs: 4_000 });
    h.engine.next({
      type: 'docker.listed',
      listedAtMs: 5_000,
      running: [
        { containerId: id(8), name: 'desktop' },
        { containerId: id(12), name: 'ecs-agent' },
      ],
    });
    await h.waitState(id(8), 'ttyAssigned');
    await waitFor('6 gone', () => h.stateOf(id(6)) === '"untracked"');
    expect(h.stateOf(id(7))).toContain('ttyAssigned');
    expect(h.stateOf(id(12))).toBe('"untracked"');
  });

  it('starts an id again that the engine restarted while its old life was draining', async () => {
    let release!: () => void;
    let gated = true;
    const h = runHost({
      cleanUpGate: () => (gated ? new Promise<void>((resolve) => (release = resolve)) : Promise.resolve()),
    });
    await h.serving();
    h.start(9, { hostPort: 40009, startedAtMs: 1_000 });
    await h.waitState(id(9), 'ttyAssigned');
    h.engine.next({ type: 'docker.die', containerId: id(9), timeNano: '2000000000' });
    await h.waitState(id(9), 'draining');
    h.start(9, { hostPort: 40009, startedAtMs: 3_000 });
    expect(h.context().containers.get(id(9))?.restartPending).toBe(true);
    gated = false;
    release();
    await waitFor(
      'the new life',
      () => h.context().containers.get(id(9))?.ref.getSnapshot().context.startedAtMs === 3_000,
    );
    await h.waitState(id(9), 'ttyAssigned');
    // A die for an unknown id is nothing to act on.
    h.engine.next({ type: 'docker.die', containerId: id(99), timeNano: '1' });
  });

  it('adopts the folders of an earlier run: resumes the live, cleans the dead, resolves a duplicated TTY', async () => {
    const folder = (n: number, tty: number, writtenAt: number, ready: boolean): FolderRecord => ({
      containerId: id(n),
      hostPort: 40000 + n,
      tty,
      dpi: ready ? 96 : undefined,
      ready,
      ttyWrittenAtMs: writtenAt,
    });
    const h = runHost({
      folders: [folder(21, 12, 2_000, false), folder(20, 12, 1_000, true), folder(22, 14, 1_000, false)],
    });
    h.known(20, { hostPort: 40020, startedAtMs: 500 });
    h.known(21, { hostPort: 40021, startedAtMs: 600 });
    await h.serving();
    // Reserved before the engine is even listed: a newcomer cannot take 12 or 14.
    expect(h.context().ttyTable.holders).toEqual(
      new Map([
        [12, id(20)],
        [14, id(22)],
      ]),
    );
    h.start(23, { hostPort: 40023, startedAtMs: 3_000 });
    await h.waitState(id(23), 'ttyAssigned');
    expect(h.context().ttyTable.holders.get(10)).toBe(id(23));
    // A DPI request for an adopted container waits until the list adopts it.
    h.request('adopted', 40020, 144);

    h.engine.next({
      type: 'docker.listed',
      listedAtMs: 4_000,
      running: [20, 21, 23].map((n) => ({ containerId: id(n), name: 'desktop' })),
    });
    await h.waitState(id(20), 'running');
    await h.waitState(id(21), 'ttyAssigned');
    await waitFor('22 cleaned up', () => h.stateOf(id(22)) === '"untracked"');
    expect(Object.fromEntries(h.context().ttyTable.holders)).toEqual({ 10: id(23), 11: id(21), 12: id(20) });
    expect(h.reported).toContain('TTY 12 is held by another container; moved to TTY 11');
    await waitFor('the reply', () => h.replies.length === 1);
    expect(h.replies[0]).toMatchObject({ requestId: 'adopted', status: 200 });
  });

  it('tracks the engine connection and reports its loss once', async () => {
    const h = runHost();
    await h.serving();
    h.engine.next({ type: 'docker.disconnected', reason: 'connect ENOENT' });
    h.engine.next({ type: 'docker.disconnected', reason: 'connect ENOENT' });
    h.engine.next({ type: 'docker.connected' });
    h.engine.next({ type: 'docker.disconnected', reason: 'socket closed' });
    expect(h.reported.filter((m) => m.includes('unreachable'))).toEqual([
      'the Docker engine is unreachable: connect ENOENT',
      'the Docker engine is unreachable: socket closed',
    ]);
  });

  it('on stop, lets go of running containers, drains the dead ones, and stops', async () => {
    const h = runHost({ requestWaitMs: 60_000 });
    await h.serving();
    h.start(10, { hostPort: 40010, startedAtMs: 1_000 });
    h.start(12, { hostPort: 40012, startedAtMs: 1_000 });
    await h.waitState(id(10), 'ttyAssigned');
    await h.waitState(id(12), 'ttyAssigned');
    h.gone(12);
    h.request('waiting', 40999);
    h.actor.send({ type: 'host.stop', reason: { fatal: false, message: 'SIGTERM' } });
    await waitFor('stopped', () => h.actor.getSnapshot().status === 'done');
    expect(h.actor.getSnapshot().output).toEqual({
      stopReason: { fatal: false, message: 'SIGTERM' },
      leftoverContainers: [],
    });
    // The running one keeps its TTY (its folder was not touched); the dead one gave its back.
    expect(Object.fromEntries(h.context().ttyTable.holders)).toEqual({ 10: id(10) });
    expect(h.cleanedUp).toEqual([id(12)]);
  });

  it('claims nothing for a verdict that comes while the container drains, or while the host stops', async () => {
    const gate = () => {
      let open!: () => void;
      const opened = new Promise<void>((resolve) => (open = resolve));
      return { open, wait: () => opened };
    };
    const inspections = new Map([15, 16].map((n) => [id(n), gate()]));
    const cleanUp = gate();
    const list = gate();
    const h = runHost({
      inspectionGate: (containerId) => inspections.get(containerId)!.wait(),
      cleanUpGate: cleanUp.wait,
      listGate: list.wait,
    });
    await h.serving();
    // Dies while it is inspected: it drains, and the verdict that says "running" comes after.
    h.start(15, { hostPort: 40015, startedAtMs: 1_000 });
    await h.waitState(id(15), 'inspecting');
    h.engine.next({ type: 'docker.die', containerId: id(15), timeNano: '2000000000' });
    await h.waitState(id(15), 'cleaningUp');
    inspections.get(id(15))!.open();
    await waitFor('the verdict heard', () => h.heard.includes(`container.inspected ${id(15)}`));
    expect(h.stateOf(id(15))).toContain('cleaningUp');
    // Inspected while the host stops: the verdict goes on, the claim waits for the host's word.
    h.start(16, { hostPort: 40016, startedAtMs: 1_000 });
    await h.waitState(id(16), 'inspecting');
    h.actor.send({ type: 'host.stop', reason: { fatal: false, message: 'SIGTERM' } });
    inspections.get(id(16))!.open();
    await h.waitState(id(16), 'claiming');
    expect(h.context().ttyTable.holders.size).toBe(0);
    expect(h.context().hostPorts.size).toBe(0);
    cleanUp.open();
    list.open();
    await waitFor('stopped', () => h.actor.getSnapshot().status === 'done');
    expect(h.actor.getSnapshot().output?.leftoverContainers).toEqual([]);
    expect(h.cleanedUp).toEqual([id(15)]);
  });

  it('sends a container only its own life’s death, and marks it draining as it sends it', async () => {
    let finishCleanUp!: () => void;
    const h = runHost({ cleanUpGate: () => new Promise<void>((resolve) => (finishCleanUp = resolve)) });
    await h.serving();
    h.start(17, { hostPort: 40017, startedAtMs: 5_000 });
    await h.waitState(id(17), 'ttyAssigned');
    // An earlier life of the same id died at 1 s: not this one's death.
    h.engine.next({ type: 'docker.die', containerId: id(17), timeNano: '1000000000' });
    expect(h.stateOf(id(17))).toContain('ttyAssigned');
    expect(h.context().containers.get(id(17))?.draining).toBe(false);
    h.engine.next({ type: 'docker.die', containerId: id(17), timeNano: '6000000000' });
    await h.waitState(id(17), 'cleaningUp');
    expect(h.context().containers.get(id(17))?.draining).toBe(true);
    expect(h.heard).not.toContain(`container.draining ${id(17)}`);
    finishCleanUp();
    await waitFor('17 gone', () => h.stateOf(id(17)) === '"untracked"');
  });

  it('ignores a second start of a container it rejected: it holds nothing and only waits for its death', async () => {
    const h = runHost();
    await h.serving();
    h.start(14, { hostPort: 0, startedAtMs: 1_000 });
    await h.waitState(id(14), 'rejected');
    h.start(14, { hostPort: 0, startedAtMs: 1_000 });
    h.engine.next({ type: 'docker.die', containerId: id(14), timeNano: '2000000000' });
    await waitFor('forgotten', () => !h.context().containers.has(id(14)));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(h.context().containers.has(id(14))).toBe(false);
  });

  it('keeps every container when the engine does not answer at stop', async () => {
    const h = runHost({ listAtStop: new Error('engine timeout') });
    await h.serving();
    h.start(13, { hostPort: 40013, startedAtMs: 1_000 });
    await h.waitState(id(13), 'ttyAssigned');
    h.gone(13);
    h.actor.send({ type: 'host.stop', reason: { fatal: false, message: 'SIGTERM' } });
    await waitFor('stopped', () => h.actor.getSnapshot().status === 'done');
    expect(h.cleanedUp).toEqual([]);
    expect(h.warnings.join(' ')).toContain('every folder, TTY and mount is kept');
  });

  it('gives up draining after its deadline', async () => {
    const h = runHost({ cleanUpGate: () => new Promise(() => {}) });
    await h.serving();
    h.start(11, { hostPort: 40011, startedAtMs: 1_000 });
    await h.waitState(id(11), 'ttyAssigned');
    h.gone(11);
    h.actor.send({ type: 'host.stop', reason: { fatal: true, message: 'test' } });
    await waitFor('stopped', () => h.actor.getSnapshot().status === 'done', 5_000);
    expect(h.actor.getSnapshot().output?.leftoverContainers).toEqual([id(11)]);
    expect(h.reported).toContain('draining timed out with 1 containers left');
  });

  it('takes the fatal path when booting, the handshake or the ECS agent fails', async () => {
    for (const failing of ['prepareHost', 'handshake', 'startEcsAgent'] as const) {
      const host = hostMachine.provide({
        actors: {
          prepareHost: fromPromise(async () => {
            if (failing === 'prepareHost') throw new Error('not root');
            return { folders: [] as FolderRecord[] };
          }),
          handshake: fromPromise<{ authToken: string }, void>(async () => {
            if (failing === 'handshake') throw new Error('webserver down');
            return { authToken: 'token' };
          }),
          startEcsAgent: fromPromise<void, void>(async () => {
            throw new Error('no agent image');
          }),
        },
      });
      const actor = createActor(host, {
        input: {
          ttyCount: 256,
          dpiTimeoutMs: 1,
          requestWaitMs: 1,
          drainTimeoutMs: 1,
          handshakeTimeoutMs: 30,
          handshakeRetryMs: 5,
        },
        inspect: recorder.inspect,
      }).start();
      await waitFor('stopped', () => actor.getSnapshot().status === 'done');
      expect(actor.getSnapshot().output?.stopReason.fatal).toBe(true);
    }
  });
});

afterAll(() => {
  const missing = [...allTransitions(hostMachine)].filter((t) => !recorder.taken.has(t));
  expect(missing, 'transitions no test takes').toEqual([]);
});
