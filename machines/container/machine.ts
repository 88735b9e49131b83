/**
 * One container on the host, from the engine's `start` to its removal.
 *
 *   requested (inspecting ⇄ waitingToInspectAgain → [claiming →] writingFiles)
 *     → ttyAssigned (waiting → overdue) ⇄ mounted → running (idle ⇄ updatingDpi)
 *     → draining (unmounting → cleaningUp) → removed, or → rejected → removed
 *   any state but draining → detaching → detached   the service stops, the container runs on
 *
 *   requested    inspected, given its TTY, start files written (./requested.ts)
 *   ttyAssigned  folder, host port and TTY written; waits for the webserver's DPI
 *   mounted      the DPI being written, then `.ready`; a failed write goes back
 *   running      ready; each later DPI is written in `updatingDpi`
 *   draining     died or could not be set up: its mounts, then its folder, then
 *                its TTY and host port go (./draining.ts)
 *   rejected     could not be set up, holds nothing, waits for the engine's die
 *   detaching    the service stops while the container runs on
 *   removed, detached   the actor's end, which the host hears as its done event
 *
 * `detaching` keeps the folder, files, TTY and cloud-storage mounts as they
 * are, for the next start to adopt (`host.leaving`). A write in flight
 * finishes first, so nothing the container reads is left half-done by a
 * stop; only the actor ends. A container that died is drained as usual,
 * whoever asks.
 *
 * DPI requests that arrive while DPI are being written wait their
 * turn (at most MAX_QUEUED_DPI of them): each is written in order
 * and answered after its own write, so a webserver that retries or sends two
 * values close together gets 200s, not a refusal.
 *
 * From `ttyAssigned` on, each cloud-storage mount the webserver asks for is a
 * child actor (machines/mount/machine.ts); draining stops them all before the
 * folder goes. Mounts an earlier run left serving for an adopted container
 * are its children from the start (`adopted.mounts`).
 *
 * A container that cannot be set up (no published port, no free TTY, a write
 * that failed) is drained at once and then parked in `rejected` until the
 * engine reports its death, so that a re-list does not retry it forever.
 *
 * The actions, guards and delays named here, and the placeholders of the side
 * effects (`inspectContainer`, `writeStartFiles`, ...), are in ./setup.ts;
 * src/ supplies the side effects through `containerMachineWith` below.
 */
import { assign, type ActorRefFrom } from 'xstate';
import type { MountMachineLogic } from '../mount/machine.js';
import type { MachineVoice } from '../shared.js';
import { draining } from './draining.js';
import type { InspectionVerdict } from './inspection.js';
import { requested } from './requested.js';
import { containerContext, containerSetup, writingDpi } from './setup.js';
import type { ContainerContext, ContainerIoEvent, ContainerOutput, ContainerToHostEvent } from './types.js';

export const containerMachine = containerSetup.createMachine({
  id: 'container',
  context: containerContext,
  initial: 'requested',
  on: {
    // Sent by the host only for this life's death (machines/host/tracking.ts, `isCurrentDeath`).
    'container.died': {
      target: '.draining',
      actions: assign({ ended: true }),
    },
    'host.leaving': { target: '.detaching' },
    // The DPI are taken in ttyAssigned and running, and queued while the start files are written
    // (./requested.ts); anywhere else the request is answered at once.
    'dpi.set': {
      actions: { type: 'refuseDpi', params: ({ event }) => event },
    },
    'cloudStorage.mount': { actions: { type: 'startOrRefuseMount', params: ({ event }) => event } },
    'mount.gone': { actions: { type: 'forgetMount', params: ({ event }) => event } },
  },
  states: {
    requested,
    ttyAssigned: {
      entry: {
        type: 'logStep',
        params: ({ context }) => ({
          message: `tty ${context.tty} and host port ${context.hostPort} written`,
        }),
      },
      initial: 'waiting',
      // Back here after a failed first write: a request that waited behind it tries again.
      always: { guard: 'hasQueuedDpi', target: 'mounted', actions: 'takeQueuedDpi' },
      on: {
        'dpi.set': {
          target: 'mounted',
          actions: { type: 'takeDpi', params: ({ event }) => event },
        },
      },
      states: {
        waiting: {
          after: { dpiTimeout: 'overdue' },
        },
        // The container keeps waiting for `.ready`; the webserver may still send the values late.
        overdue: {
          entry: {
            type: 'logWarning',
            params: ({ context }) => ({
              message: `no DPI from the webserver after ${context.dpiTimeoutMs} ms`,
            }),
          },
        },
      },
    },
    mounted: writingDpi('#container.running', '#container.ttyAssigned'),
    running: {
      entry: { type: 'logStep', params: { message: 'DPI written; the container is ready' } },
      initial: 'idle',
      states: {
        idle: {
          always: { guard: 'hasQueuedDpi', target: 'updatingDpi', actions: 'takeQueuedDpi' },
          on: {
            'dpi.set': {
              target: 'updatingDpi',
              actions: { type: 'takeDpi', params: ({ event }) => event },
            },
          },
        },
        updatingDpi: writingDpi('#container.running.idle', '#container.running.idle'),
      },
    },
    draining,
    // Set up failed; nothing is held. Waits for the engine to report the death, or for the service to stop.
    rejected: {
      always: { guard: 'leaving', target: 'removed' },
      on: {
        'container.died': { target: 'removed' },
        'host.leaving': { target: 'removed' },
      },
    },
    // The service stops and the container runs on: its mounts stay served, then the actor ends.
    detaching: {
      entry: [
        { type: 'answerInterruptedRequest', params: { why: 'the host service is stopping' } },
        'detachMounts',
      ],
      always: { guard: 'noMountsLeft', target: 'detached' },
    },
    // The host hears either end as this actor's done event, with the machine's output below.
    detached: {
      type: 'final',
      output: { end: 'detached' },
    },
    removed: {
      type: 'final',
      output: { end: 'removed' },
    },
  },
  output: ({ context, event }) => ({
    containerId: context.containerId,
    end: (event.output as Pick<ContainerOutput, 'end'>).end,
  }),
});

export type ContainerActorRef = ActorRefFrom<typeof containerMachine>;

/** What a container's context says, for people and scripts (the state snapshot). */
export function containerFacts(context: ContainerContext) {
  return {
    name: context.name ?? null,
    hostPort: context.hostPort ?? null,
    tty: context.tty ?? null,
    dpi: context.dpi ?? null,
    mounts: Object.keys(context.mounts).sort(),
    error: context.error ?? null,
  };
}
export * from './types.js';
export * from './inspection.js';

/** The container's own I/O calls; each settles with its pair of ContainerIoEvents (an inspection, by way of the host). */
export interface ContainerIo {
  inspectContainer(containerId: string): Promise<InspectionVerdict>;
  /** Makes the folder and writes `hostPort_for_my_32262_tcp`, then `tty`. */
  writeStartFiles(containerId: string, hostPort: number, tty: number): Promise<void>;
  /** Writes `DPI`, then `.ready`. */
  writeDpi(containerId: string, dpi: number): Promise<void>;
  /** Removes the folder (the mounts are gone by then). */
  cleanUpContainer(containerId: string): Promise<void>;
}

/** Everything the container machine asks of the outside world: src/ supplies each one, or it does not compile. */
export interface ContainerImplementations extends ContainerIo {
  mount: MountMachineLogic;
  voice: MachineVoice<ContainerContext>;
}

type IoSelf = {
  send(event: ContainerIoEvent): void;
  getSnapshot(): { status: string };
  /** The host, whose child every container is. */
  _parent?: { send(event: ContainerToHostEvent): void };
};
type IoFailure = Extract<ContainerIoEvent, { error: unknown }>['type'];
/** Where a call's success goes: to the container, or to the host, which sends it on. */
type IoOutcome = { to: 'container'; event: ContainerIoEvent } | { to: 'host'; event: ContainerToHostEvent };

/**
 * One I/O action: starts `call` with the container's context; its outcome
 * comes back as an event when it settles, unless the actor has ended
 * meanwhile (a container that died and was removed while its inspection was
 * in flight): nobody is left to tell, and a host must not take an old life's
 * verdict for a new actor of the same id. A failure always goes to the
 * container.
 */
function ioAction<T>(
  call: (context: ContainerContext) => Promise<T>,
  done: (value: T, context: ContainerContext) => IoOutcome,
  failed: IoFailure,
) {
  return ({ context, self }: { context: ContainerContext; self: IoSelf }): void => {
    let pending: Promise<T>;
    try {
      pending = call(context);
    } catch (error) {
      // A call that throws before it returns its promise fails as a rejection does: an event too.
      pending = Promise.reject(error as Error);
    }
    // Its own promise, not one resolved with it: that took two more microtask turns and three
    // more objects a call, three or four calls a container's lifecycle.
    pending.then(
      (value) => {
        if (self.getSnapshot().status !== 'active') return;
        const outcome = done(value, context);
        if (outcome.to === 'host') self._parent?.send(outcome.event);
        else self.send(outcome.event);
      },
      (error: unknown) => {
        if (self.getSnapshot().status === 'active') self.send({ type: failed, error });
      },
    );
  };
}

const toContainer = (event: ContainerIoEvent): IoOutcome => ({ to: 'container', event });

/**
 * The machine's I/O actions (./setup.ts), each starting one of `io`'s calls:
 * for `containerMachineWith`, and for tests, which give fakes of some.
 */
export function containerIoActions(
  io: Partial<ContainerIo>,
): Parameters<typeof containerMachine.provide>[0]['actions'] {
  const { inspectContainer, writeStartFiles, writeDpi, cleanUpContainer } = io;
  return {
    ...(inspectContainer && {
      // The verdict goes to the host, which decides a ready container's claim before it sends it on.
      inspectContainer: ioAction(
        (c) => inspectContainer(c.containerId),
        (verdict, c) => ({
          to: 'host',
          event: { type: 'container.inspected', containerId: c.containerId, verdict },
        }),
        'inspection.failed',
      ),
    }),
    ...(writeStartFiles && {
      writeStartFiles: ioAction(
        (c) => writeStartFiles(c.containerId, c.hostPort!, c.tty!),
        () => toContainer({ type: 'startFiles.written' }),
        'startFiles.failed',
      ),
    }),
    ...(writeDpi && {
      writeDpi: ioAction(
        (c) => writeDpi(c.containerId, c.dpi!),
        () => toContainer({ type: 'dpi.written' }),
        'dpi.failed',
      ),
    }),
    ...(cleanUpContainer && {
      cleanUpContainer: ioAction(
        (c) => cleanUpContainer(c.containerId),
        () => toContainer({ type: 'cleanUp.done' }),
        'cleanUp.failed',
      ),
    }),
  };
}

export function containerMachineWith(impl: ContainerImplementations) {
  return containerMachine.provide({
    actors: { mount: impl.mount },
    actions: {
      ...containerIoActions(impl),
      reportError: ({ context }, params) => impl.voice.reportError(context, params.message),
      logStep: ({ context }, params) => impl.voice.logStep(context, params.message),
      logWarning: ({ context }, params) => impl.voice.logWarning(context, params.message),
    },
  });
}

export type ContainerMachineLogic = ReturnType<typeof containerMachineWith>;
