import { inspectWith } from '../../support/inspection.js';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { createActor, enqueueActions, fromPromise, setup, type AnyEventObject } from 'xstate';
import {
  containerIoActions,
  containerMachine,
  INSPECTION_FAILURES_REPORTED,
  MAX_QUEUED_DPI,
  publishedHostPort,
  type ClaimAnswer,
  type ContainerContext,
  type ContainerEvent,
  type ContainerOutput,
  type ContainerToHostEvent,
} from '../../../machines/container/machine.js';
import type { ContainerInspection, FolderRecord } from '../../../machines/events.js';
import { allTransitions, transitionRecorder } from '../../support/transitionCoverage.js';
import { mountMachine } from '../../../machines/mount/machine.js';
import { TEST_CREDENTIALS } from '../../support/credentials.js';
import { waitFor } from '../../support/wait.js';
import { API_SERVER_SYSTEM_ID, type ApiReplyEvent } from '../../../machines/shared.js';

const ID = 'a'.repeat(64);
const recorder = transitionRecorder('container');

interface Fakes {
  inspection?: Partial<ContainerInspection> | Error;
  /** This many inspections fail before the others answer. */
  failedInspections?: number;
  claim?: 'granted' | 'denied';
  /** The claim waits (for what a dead container gives back): the answer comes after the verdict, on its own. */
  claimWaits?: boolean;
  writeStartFiles?: Error;
  /** The write throws before it returns a promise (a call that fails at once). */
  writeStartFilesThrowsAtOnce?: Error;
  /** Results of successive writeDpi calls: undefined = success. */
  writeDpi?: (Error | undefined)[];
  cleanUp?: Error;
  /** When given, the clean-up waits for this promise: events can then arrive mid-drain. */
  cleanUpGate?: Promise<void>;
  /** When given, every inspection waits for this promise before it answers. */
  inspectionGate?: Promise<void>;
  /** Called before every file write, which waits for what it returns: events can then arrive mid-write. */
  writeGate?: () => Promise<void>;
  dpiTimeoutMs?: number;
  adopted?: FolderRecord;
  grantedTty?: number;
  /** How a mount goes: undefined = serves until stopped; 'fails' = rclone never serves; 'ends' = serves, then exits. */
  mount?: 'fails' | 'ends';
}

/** How the stand-in parent records the container actor's done event. */
type ContainerEnd = { type: 'ended' } & ContainerOutput;

/**
 * Runs one container actor under a stand-in parent that records what the
 * container asks of the host, and (registered as the API server) its answers.
 */
function runContainer(fakes: Fakes = {}) {
  const toHost: (ContainerToHostEvent | ApiReplyEvent | ContainerEnd)[] = [];
  const reported: string[] = [];
  const calls: string[] = [];
  const warned: string[] = [];
  const logged: string[] = [];
  const writes = [...(fakes.writeDpi ?? [])];
  let inspectionsLeftToFail = fakes.failedInspections ?? 0;
  const container = containerMachine
    .provide({
      actions: {
        ...containerIoActions({
          inspectContainer: inspectWith(async (input) => {
            await fakes.inspectionGate;
            if (fakes.inspection instanceof Error) throw fakes.inspection;
            if (inspectionsLeftToFail > 0) {
              inspectionsLeftToFail -= 1;
              throw new Error('engine busy');
            }
            return {
              containerId: input.containerId,
              name: 'desktop',
              running: true,
              startedAtMs: 1_000,
              hostPortBindings: [40001, 40001],
              ...fakes.inspection,
            };
          }),
          writeStartFiles: () => {
            if (fakes.writeStartFilesThrowsAtOnce) throw fakes.writeStartFilesThrowsAtOnce;
            return (async () => {
              await fakes.writeGate?.();
              if (fakes.writeStartFiles) throw fakes.writeStartFiles;
            })();
          },
          writeDpi: async () => {
            await fakes.writeGate?.();
            const result = writes.shift();
            if (result) throw result;
          },
          cleanUpContainer: async () => {
            calls.push('cleanUp');
            await fakes.cleanUpGate;
            if (fakes.cleanUp) throw fakes.cleanUp;
          },
        }),
        reportError: (_, params) => reported.push(params.message),
        logWarning: (_, params) => warned.push(params.message),
        logStep: (_, params) => logged.push(params.message),
      },
    })
    .provide({
      actors: {
        mount: mountMachine.provide({
          actors: {
            startMount: fromPromise(async () => {
              if (fakes.mount === 'fails') throw new Error('rclone exited: 401 Unauthorized');
            }),
            watchMount: fromPromise(() =>
              fakes.mount === 'ends'
                ? Promise.resolve('rclone exited with code 1')
                : new Promise<string>(() => {}),
            ),
            stopMount: fromPromise(async () => {
              calls.push('stopMount');
            }),
          },
          actions: { reportError: (_, params) => reported.push(params.message) },
        }),
      },
    });
  const parent = setup({ actors: { container } }).createMachine({
    invoke: {
      id: 'container',
      src: 'container',
      input: {
        containerId: ID,
        dpiTimeoutMs: fakes.dpiTimeoutMs ?? 60_000,
        inspectionRetryBaseMs: 1,
        // Small enough that a test of many failures ends soon, only if the waits stop doubling.
        inspectionRetryMaxMs: 4,
        adopted: fakes.adopted,
      },
    },
    on: {
      '*': {
        actions: [
          ({ event }) => {
            // The actor's end reaches its parent as the done event, with the machine's output.
            if (event.type === 'xstate.done.actor.container') {
              toHost.push({
                type: 'ended',
                ...(event as AnyEventObject & { output: ContainerOutput }).output,
              });
            } else if (!event.type.startsWith('xstate.')) {
              toHost.push(event as ContainerToHostEvent | ApiReplyEvent);
            }
          },
          // As the host does: a verdict goes back to the container, a ready one with the answer to its claim.
          enqueueActions(({ event, enqueue }) => {
            if (event.type !== 'container.inspected') return;
            const { verdict } = event as Extract<ContainerToHostEvent, { type: 'container.inspected' }>;
            const claim: ClaimAnswer =
              fakes.claim === 'denied'
                ? { type: 'resources.denied', reason: 'all 246 assignable TTYs are taken' }
                : { type: 'resources.granted', tty: fakes.grantedTty ?? 10 };
            if (verdict.kind !== 'ready' || fakes.claimWaits) {
              enqueue.sendTo('container', { type: 'inspection.done', verdict });
              if (verdict.kind === 'ready') enqueue.sendTo('container', claim);
            } else {
              enqueue.sendTo('container', { type: 'inspection.done', verdict, claim });
            }
          }),
        ],
      },
    },
  });
  const actor = createActor(parent, { inspect: recorder.inspect, systemId: API_SERVER_SYSTEM_ID }).start();
  const child = () => actor.getSnapshot().children['container']!;
  const state = () => JSON.stringify(child().getSnapshot().value);
  return {
    toHost,
    reported,
    calls,
    warned,
    logged,
    send: (event: ContainerEvent) => child().send(event),
    state,
    context: () => child().getSnapshot().context as ContainerContext,
    reach: (value: string) =>
      waitFor(
        `state ${value} (now ${state()})`,
        () => state() === JSON.stringify(value) || state() === value,
        2_000,
        2,
      ),
    reachJson: (value: object) =>
      waitFor(`state ${JSON.stringify(value)}`, () => state() === JSON.stringify(value), 2_000, 2),
    replies: () => toHost.filter((e) => e.type === 'api.reply'),
  };
}

describe('containerMachine', () => {
  it('goes from start to removed on the happy path, answering every DPI request', async () => {
    const c = runContainer({ writeDpi: [undefined, undefined, new Error('disk full')] });
    await c.reachJson({ ttyAssigned: 'waiting' });
    // The host routes requests to it from the grant on: it has nothing more to tell the host.
    expect(c.toHost.map((e) => e.type)).toEqual(['container.inspected']);
    expect(c.context()).toMatchObject({ hostPort: 40001, tty: 10 });

    c.send({ type: 'dpi.set', requestId: 'r1', dpi: 192 });
    await c.reachJson({ running: 'idle' });
    c.send({ type: 'dpi.set', requestId: 'r2', dpi: 96 });
    await waitFor('reply r2', () => c.replies().length === 2);
    c.send({ type: 'dpi.set', requestId: 'r3', dpi: 144 });
    await waitFor('reply r3', () => c.replies().length === 3);
    expect(c.replies()).toEqual([
      { type: 'api.reply', requestId: 'r1', status: 200, result: `DPI of container ${ID} set to 192` },
      { type: 'api.reply', requestId: 'r2', status: 200, result: `DPI of container ${ID} set to 96` },
      {
        type: 'api.reply',
        requestId: 'r3',
        status: 406,
        error: 'could not write the DPI: disk full',
      },
    ]);

    const toldBeforeDeath = c.toHost.length;
    c.send({ type: 'container.died', timeNano: '2000000000' });
    await c.reach('removed');
    // The host sent the death and knows it drains; its removal gives back its TTY and host port: one
    // event to the host, after the clean-up.
    expect(c.toHost.slice(toldBeforeDeath)).toEqual([{ type: 'ended', containerId: ID, end: 'removed' }]);
    // Its death is one line, after the clean-up it reports.
    expect(c.logged.at(-1)).toBe('container gone: its folder is removed, its TTY and host port released');
    expect(c.logged.filter((m) => m.startsWith('container gone'))).toHaveLength(1);
  });

  it('queues DPI requests that arrive during a write and answers each after its own write, in order', async () => {
    const c = runContainer({ writeDpi: [new Error('disk full')] });
    await c.reachJson({ ttyAssigned: 'waiting' });
    // Sent back to back: the first write is still in flight when the others arrive.
    c.send({ type: 'dpi.set', requestId: 'r1', dpi: 96 });
    c.send({ type: 'dpi.set', requestId: 'r2', dpi: 144 });
    c.send({ type: 'dpi.set', requestId: 'r3', dpi: 192 });
    expect(c.context().queuedDpi.map((q) => q.requestId)).toEqual(['r2', 'r3']);
    await waitFor('three replies', () => c.replies().length === 3);
    await c.reachJson({ running: 'idle' });
    expect(c.replies().map((r) => [r.requestId, r.status])).toEqual([
      ['r1', 406],
      ['r2', 200],
      ['r3', 200],
    ]);
    expect(c.context()).toMatchObject({ dpi: 192, queuedDpi: [] });

    // The same while running: a change of DPI queues behind the one being written.
    c.send({ type: 'dpi.set', requestId: 'r4', dpi: 96 });
    c.send({ type: 'dpi.set', requestId: 'r5', dpi: 120 });
    await waitFor('five replies', () => c.replies().length === 5);
    expect(
      c
        .replies()
        .slice(3)
        .map((r) => [r.requestId, r.status]),
    ).toEqual([
      ['r4', 200],
      ['r5', 200],
    ]);
    expect(c.context().dpi).toBe(120);
  });

  it('refuses DPI requests beyond the queue limit, and answers queued ones with a 406 when draining', async () => {
    const c = runContainer();
    await c.reachJson({ ttyAssigned: 'waiting' });
    const sent = MAX_QUEUED_DPI + 2;
    for (let i = 0; i < sent; i++) c.send({ type: 'dpi.set', requestId: `q${i}`, dpi: 96 });
    // One writing, MAX waiting, the last refused at once.
    expect(c.replies()).toEqual([
      {
        type: 'api.reply',
        requestId: `q${sent - 1}`,
        status: 406,
        error: `container ${ID} already has ${MAX_QUEUED_DPI} DPI requests waiting`,
      },
    ]);
    c.send({ type: 'container.died', timeNano: '2000000000' });
    await c.reach('removed');
    const goingAway = c.replies().filter((r) => r.status === 406 && r.error.includes('going away'));
    expect(goingAway.map((r) => r.requestId)).toEqual(
      Array.from({ length: MAX_QUEUED_DPI + 1 }, (_, i) => `q${i}`),
    );
  });

  it('inspects again for as long as the engine fails, reporting once, and is set up when it answers', async () => {
    const c = runContainer({ failedInspections: 30 });
    await c.reachJson({ ttyAssigned: 'waiting' });
    expect(c.reported).toEqual([
      `inspection failed ${INSPECTION_FAILURES_REPORTED} times in a row, trying again until the engine answers: engine busy`,
    ]);
    // Logged until it is reported, then only counted.
    expect(c.logged.filter((m) => m.startsWith('inspection failed'))).toHaveLength(
      INSPECTION_FAILURES_REPORTED - 1,
    );
    expect(c.context()).toMatchObject({ hostPort: 40001, tty: 10, inspectionFailures: 30, error: undefined });
  });

  it('is cleaned up when it dies while its inspections fail, having claimed nothing', async () => {
    const c = runContainer({ inspection: new Error('connect ENOENT /var/run/docker.sock') });
    await waitFor('a few failed inspections', () => c.context().inspectionFailures >= 6);
    // What `make status` shows meanwhile.
    expect(c.context().error).toBe(
      `inspection failed ${INSPECTION_FAILURES_REPORTED} times in a row, trying again until the engine answers: connect ENOENT /var/run/docker.sock`,
    );
    c.send({ type: 'container.died', timeNano: '5000000000' });
    await c.reach('removed');
    expect(c.toHost.map((e) => e.type)).toEqual(['ended']);
  });

  it('answers DPI sent before the container is set up with a 406', async () => {
    const c = runContainer({ claim: 'denied' });
    await c.reach('rejected');
    c.send({ type: 'dpi.set', requestId: 'early', dpi: 96 });
    await waitFor('the reply', () => c.replies().length === 1);
    expect(c.replies()[0]).toMatchObject({ requestId: 'early', status: 406 });
  });

  it('ignores the ECS agent and containers that already stopped', async () => {
    const agent = runContainer({ inspection: { name: 'ecs-agent' } });
    await agent.reach('removed');
    const stopped = runContainer({ inspection: { running: false } });
    await stopped.reach('removed');
    expect(agent.toHost).toEqual([
      { type: 'container.inspected', containerId: ID, verdict: { kind: 'ignored' } },
      { type: 'ended', containerId: ID, end: 'removed' },
    ]);
    // A stopped one may be an adopted folder whose container died meanwhile: it is cleaned up.
    expect(stopped.toHost.map((e) => e.type)).toEqual(['container.inspected', 'container.draining', 'ended']);
  });

  it.each([
    ['no published port', { hostPortBindings: [] }, 'no host port is published for 32262/tcp'],
    [
      'disagreeing bindings',
      { hostPortBindings: [1, 2] },
      'the bindings of 32262/tcp disagree on the host port: 1, 2',
    ],
  ])('takes a container with %s for someone else’s: one warning, no error', async (_, inspection, reason) => {
    const c = runContainer({ inspection });
    await c.reach('rejected');
    expect(c.reported).toEqual([]);
    expect(c.warned).toEqual([`not a streaming container: ${reason}`]);
    expect(c.toHost.at(-1)).toEqual({ type: 'resources.release', containerId: ID });
    c.send({ type: 'container.died', timeNano: '5000000000' });
    await c.reach('removed');
  });

  it.each([
    ['no free TTY', { claim: 'denied' as const }, 'all 246 assignable TTYs are taken'],
    [
      'no free TTY once its claim waited',
      { claim: 'denied' as const, claimWaits: true },
      'all 246 assignable TTYs are taken',
    ],
    ['a failed write', { writeStartFiles: new Error('EROFS') }, 'writing the start files failed: EROFS'],
    [
      'a write that fails before it returns its promise',
      { writeStartFilesThrowsAtOnce: new Error('EMFILE') },
      'writing the start files failed: EMFILE',
    ],
  ])('is rejected after %s, holding nothing, until it dies', async (_, fakes, message) => {
    const c = runContainer(fakes);
    await c.reach('rejected');
    expect(c.reported).toEqual([message]);
    // Not dead: the host learns that it drains from the container itself.
    expect(c.toHost.map((e) => e.type)).toContain('container.draining');
    expect(c.toHost.at(-1)).toEqual({ type: 'resources.release', containerId: ID });
    c.send({ type: 'container.died', timeNano: '5000000000' });
    await c.reach('removed');
  });

  it('leaves rejected when the service stops', async () => {
    const c = runContainer({ inspection: { hostPortBindings: [] } });
    await c.reach('rejected');
    c.send({ type: 'host.leaving' });
    await c.reach('removed');
  });

  it.each([
    ['inspecting', {}],
    ['waiting for its DPI', { ttyAssigned: 'waiting' }],
    ['running', { running: 'idle' }],
  ])('lets go when the service stops while %s, keeping its folder, TTY and mounts', async (_, state) => {
    const c = runContainer();
    if (Object.keys(state).length === 0) {
      expect(c.state()).toContain('inspecting');
    } else {
      await c.reachJson({ ttyAssigned: 'waiting' });
      if ('running' in state) {
        c.send({ type: 'dpi.set', requestId: 'r1', dpi: 192 });
        await c.reachJson(state);
      }
    }
    c.send({ type: 'host.leaving' });
    await c.reach('detached');
    expect(c.toHost.at(-1)).toEqual({ type: 'ended', containerId: ID, end: 'detached' });
    expect(c.toHost.map((e) => e.type)).not.toContain('resources.release');
    expect(c.calls).toEqual([]);
  });

  /** A gate that holds the writes made while it is closed, until it opens again. */
  function writeGate() {
    let closed = false;
    let open = () => {};
    const held = () => (closed ? new Promise<void>((resolve) => (open = resolve)) : Promise.resolve());
    return {
      held,
      close: () => void (closed = true),
      open: () => {
        closed = false;
        open();
      },
    };
  }

  it.each([
    ['its first DPI', false, undefined, 200],
    ['a DPI update', true, undefined, 200],
    ['its first DPI, failing', false, new Error('EIO'), 406],
    ['a DPI update, failing', true, new Error('EIO'), 406],
  ])('finishes writing %s before letting go, and answers it', async (_, update, failure, status) => {
    const gate = writeGate();
    const c = runContainer({
      writeGate: gate.held,
      writeDpi: update ? [undefined, failure] : [failure],
    });
    await c.reachJson({ ttyAssigned: 'waiting' });
    if (update) {
      c.send({ type: 'dpi.set', requestId: 'first', dpi: 96 });
      await c.reachJson({ running: 'idle' });
    }
    gate.close();
    c.send({ type: 'dpi.set', requestId: 'mid-stop', dpi: 192 });
    c.send({ type: 'host.leaving' });
    await waitFor('the write held', () => c.state() !== JSON.stringify('detached'), 2_000, 2);
    expect(c.replies().find((r) => r.requestId === 'mid-stop')).toBeUndefined();
    gate.open();
    await c.reach('detached');
    expect(c.replies().find((r) => r.requestId === 'mid-stop')).toMatchObject({ status });
    expect(c.calls).toEqual([]);
  });

  it('finishes writing its start files before letting go', async () => {
    const gate = writeGate();
    gate.close();
    const c = runContainer({ writeGate: gate.held });
    await waitFor('writing the files', () => c.state().includes('writingFiles'), 2_000, 2);
    c.send({ type: 'host.leaving' });
    expect(c.state()).toContain('writingFiles');
    gate.open();
    await c.reach('detached');
    expect(c.calls).toEqual([]);
  });

  it('holds a DPI sent while it writes its start files, and writes it once they are in place', async () => {
    const gate = writeGate();
    gate.close();
    const c = runContainer({ writeGate: gate.held });
    await waitFor('writing the files', () => c.state().includes('writingFiles'), 2_000, 2);
    c.send({ type: 'dpi.set', requestId: 'early', dpi: 144 });
    expect(c.state()).toContain('writingFiles');
    expect(c.replies()).toEqual([]);
    gate.open();
    await c.reachJson({ running: 'idle' });
    expect(c.replies()).toEqual([
      { type: 'api.reply', requestId: 'early', status: 200, result: `DPI of container ${ID} set to 144` },
    ]);
  });

  it('answers a DPI held while its start files fail to be written with a 406', async () => {
    const gate = writeGate();
    gate.close();
    const c = runContainer({ writeGate: gate.held, writeStartFiles: new Error('ENOSPC') });
    await waitFor('writing the files', () => c.state().includes('writingFiles'), 2_000, 2);
    c.send({ type: 'dpi.set', requestId: 'early', dpi: 144 });
    gate.open();
    await c.reach('rejected');
    expect(c.replies()).toEqual([
      { type: 'api.reply', requestId: 'early', status: 406, error: `container ${ID}: it is going away` },
    ]);
  });

  it.each([
    ['while it drains', true],
    ['after it is removed', false],
  ])('ignores an inspection that answers after the container died, %s', async (_, drainHeld) => {
    let answerInspection!: () => void;
    let finishCleanUp!: () => void;
    // XState warns of an event sent to an actor that has ended; the answer must not be sent at all.
    const warnings = vi.spyOn(console, 'warn');
    const c = runContainer({
      inspectionGate: new Promise<void>((resolve) => (answerInspection = resolve)),
      cleanUpGate: drainHeld ? new Promise<void>((resolve) => (finishCleanUp = resolve)) : undefined,
    });
    await waitFor('inspecting', () => c.state().includes('inspecting'), 2_000, 2);
    c.send({ type: 'container.died', timeNano: '1' });
    if (drainHeld) await c.reachJson({ draining: 'cleaningUp' });
    else await c.reach('removed');
    answerInspection();
    // The answer says "ready", and the stand-in host grants a TTY with it: taken, the dead container would be set up.
    await new Promise((resolve) => setTimeout(resolve, 20));
    // Only a live actor's verdict reaches the host, which must not take an old life's verdict for a new actor.
    expect(c.toHost.some((e) => e.type === 'container.inspected')).toBe(drainHeld);
    if (drainHeld) {
      expect(c.state()).toBe(JSON.stringify({ draining: 'cleaningUp' }));
      finishCleanUp();
      await c.reach('removed');
    }
    expect(c.reported).toEqual([]);
    expect(warnings.mock.calls.flat().join(' ')).not.toContain('inspection.done');
    warnings.mockRestore();
  });

  it('goes on draining a dead container when the service stops meanwhile, then ends removed', async () => {
    let finishCleanUp!: () => void;
    const gate = new Promise<void>((resolve) => (finishCleanUp = resolve));
    const c = runContainer({ inspection: { hostPortBindings: [] }, cleanUpGate: gate });
    await waitFor('draining', () => c.state().includes('draining'), 2_000, 2);
    c.send({ type: 'host.leaving' });
    finishCleanUp();
    await c.reach('removed');
    expect(c.calls).toEqual(['cleanUp']);
  });

  it('adopts the mounts an earlier run left: detached when the service stops, unmounted when the container is gone', async () => {
    const folder = {
      containerId: ID,
      hostPort: 40001,
      tty: 10,
      ready: true,
      dpi: 144,
      ttyWrittenAtMs: 1,
      mounts: ['dropbox'],
    };
    const live = runContainer({ adopted: folder });
    await live.reachJson({ running: 'idle' });
    expect(Object.keys(live.context().mounts)).toEqual(['dropbox']);
    live.send({ type: 'host.leaving' });
    await live.reach('detached');
    expect(live.calls).toEqual([]);

    const gone = runContainer({ adopted: folder, inspection: { running: false } });
    await gone.reach('removed');
    expect(gone.calls).toEqual(['stopMount', 'cleanUp']);
  });

  it('warns of DPI that are overdue and still takes them late; a failed write goes back to waiting', async () => {
    const c = runContainer({ dpiTimeoutMs: 5, writeDpi: [new Error('EIO'), undefined] });
    await c.reachJson({ ttyAssigned: 'overdue' });
    expect(c.reported).toEqual([]);
    expect(c.warned).toEqual(['no DPI from the webserver after 5 ms']);
    c.send({ type: 'dpi.set', requestId: 'late', dpi: 192 });
    await waitFor('a reply', () => c.replies().length === 1);
    expect(c.replies()[0]).toMatchObject({ requestId: 'late', status: 406 });
    // Back to waiting (and, with this short limit, soon overdue again).
    await waitFor('ttyAssigned again', () => c.state().startsWith('{"ttyAssigned"'), 2_000, 2);
    c.send({ type: 'dpi.set', requestId: 'again', dpi: 192 });
    await c.reachJson({ running: 'idle' });
  });

  it('reports an incomplete clean-up, and remembers a die or a shutdown that arrives while draining', async () => {
    const c = runContainer({ inspection: { hostPortBindings: [] }, cleanUp: new Error('EBUSY') });
    await c.reach('rejected');
    expect(c.reported.at(-1)).toBe('clean-up incomplete: EBUSY');

    let finishCleanUp!: () => void;
    const gate = new Promise<void>((resolve) => (finishCleanUp = resolve));
    const dying = runContainer({ cleanUpGate: gate, cleanUp: new Error('EBUSY') });
    await dying.reachJson({ ttyAssigned: 'waiting' });
    dying.send({ type: 'dpi.set', requestId: 'mid-write', dpi: 96 });
    dying.send({ type: 'container.died', timeNano: '9000000000' });
    await waitFor('draining', () => dying.state().includes('draining'), 2_000, 2);
    dying.send({ type: 'container.died', timeNano: '9000000000' });
    dying.send({ type: 'host.leaving' });
    finishCleanUp();
    await dying.reach('removed');
    // The request caught by the drain is still answered, once.
    expect(dying.replies().filter((r) => r.requestId === 'mid-write')).toHaveLength(1);
  });

  it.each([
    ['with the verdict', false],
    ['after its claim waited', true],
  ])('adopts a folder of an earlier run in the state its files show, granted %s', async (_, claimWaits) => {
    const folder = { containerId: ID, hostPort: 40001, ready: true, dpi: 144, ttyWrittenAtMs: 1 };
    const ready = runContainer({ adopted: { ...folder, tty: 10 }, claimWaits });
    await ready.reachJson({ running: 'idle' });
    expect(ready.context()).toMatchObject({ tty: 10, dpi: 144 });
    expect(ready.reported).toEqual([]);

    const waiting = runContainer({
      adopted: { ...folder, tty: 10, ready: false, dpi: undefined },
      claimWaits,
    });
    await waiting.reachJson({ ttyAssigned: 'waiting' });

    const fresh = runContainer({ claimWaits });
    await fresh.reachJson({ ttyAssigned: 'waiting' });
    expect(fresh.context()).toMatchObject({ hostPort: 40001, tty: 10, startedAtMs: 1_000 });

    const moved = runContainer({ adopted: { ...folder, tty: 12 }, grantedTty: 13, claimWaits });
    await moved.reachJson({ running: 'idle' });
    expect(moved.reported).toEqual(['TTY 12 is held by another container; moved to TTY 13']);
  });

  it('mounts cloud storage as child actors, refuses duplicates, and unmounts them all when draining', async () => {
    const mount = (requestId: string, provider: string) =>
      ({ type: 'cloudStorage.mount', requestId, provider, credentials: TEST_CREDENTIALS }) as const;
    const c = runContainer();
    c.send(mount('too-early', 'dropbox'));
    await waitFor('the early refusal', () => c.replies().length === 1);
    expect(c.replies()[0]).toMatchObject({ requestId: 'too-early', status: 406 });
    await c.reachJson({ ttyAssigned: 'waiting' });
    c.send(mount('m1', 'dropbox'));
    c.send(mount('m2', 'dropbox'));
    c.send(mount('m3', 'google_drive'));
    await waitFor('three replies', () => c.replies().length === 4);
    expect(
      c
        .replies()
        .slice(1)
        .map((r) => [r.requestId, r.status]),
    ).toEqual(
      expect.arrayContaining([
        ['m1', 200],
        ['m2', 406],
        ['m3', 200],
      ]),
    );
    expect(Object.keys(c.context().mounts).sort()).toEqual(['dropbox', 'google_drive']);
    c.send({ type: 'container.died', timeNano: '9000000000' });
    await c.reach('removed');
  });

  it.each([
    ['keeps it once they are written', undefined],
    ['stops it when the write fails', new Error('ENOSPC')],
  ])('starts a mount asked for while its start files are written, and %s', async (_, failure) => {
    const gate = writeGate();
    gate.close();
    const c = runContainer({ writeGate: gate.held, writeStartFiles: failure });
    await waitFor('writing the files', () => c.state().includes('writingFiles'), 2_000, 2);
    c.send({
      type: 'cloudStorage.mount',
      requestId: 'm1',
      provider: 'dropbox',
      credentials: TEST_CREDENTIALS,
    });
    await waitFor('the mount answered', () => c.replies().length === 1);
    expect(c.replies()[0]).toMatchObject({ requestId: 'm1', status: 200 });
    expect(c.state()).toContain('writingFiles');
    gate.open();
    if (failure === undefined) {
      await c.reachJson({ ttyAssigned: 'waiting' });
      expect(Object.keys(c.context().mounts)).toEqual(['dropbox']);
    } else {
      await c.reach('rejected');
      expect(c.calls).toEqual(['stopMount', 'cleanUp']);
    }
  });

  it('forgets a mount that failed or ended on its own', async () => {
    const failing = runContainer({ mount: 'fails' });
    await failing.reachJson({ ttyAssigned: 'waiting' });
    const credentials = TEST_CREDENTIALS;
    failing.send({ type: 'cloudStorage.mount', requestId: 'bad', provider: 'dropbox', credentials });
    await waitFor('the refusal', () => failing.replies().length === 1);
    expect(failing.replies()[0]).toMatchObject({ requestId: 'bad', status: 406 });
    await waitFor('the mount forgotten', () => Object.keys(failing.context().mounts).length === 0);

    const ending = runContainer({ mount: 'ends' });
    await ending.reachJson({ ttyAssigned: 'waiting' });
    ending.send({ type: 'cloudStorage.mount', requestId: 'ok', provider: 'dropbox', credentials });
    await waitFor('the mount forgotten', () => Object.keys(ending.context().mounts).length === 0);
    expect(ending.reported.join(' ')).toContain('rclone exited with code 1');
  });

  it('computes the published host port from one or more agreeing bindings', () => {
    expect(publishedHostPort([40001])).toEqual({ ok: true, hostPort: 40001 });
    expect(publishedHostPort([40001, 40001])).toEqual({ ok: true, hostPort: 40001 });
    expect(publishedHostPort([])).toMatchObject({ ok: false });
    expect(publishedHostPort([40001, 40002])).toMatchObject({ ok: false });
    expect(publishedHostPort([0])).toMatchObject({ ok: false });
  });
});

afterAll(() => {
  const missing = [...allTransitions(containerMachine)].filter((t) => !recorder.taken.has(t));
  expect(missing, 'transitions no test takes').toEqual([]);
});
