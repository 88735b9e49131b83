/**
 * One container on the host, from the engine's `start` to its removal.
 *
 *   requested (inspecting ⇄ waitingToInspectAgain → claiming → writingFiles)
 *     → ttyAssigned (waiting → overdue)   folder, host port and tty written
 *     → mounted                          DPI written, `.ready` being written
 *     → running (idle ⇄ updatingDpi)
 *     → draining (unmounting → cleaningUp) → removed
 *   any state but draining → detaching → detached   the service stops, the container runs on
 *
 * `detaching` is the service stopping while the container keeps running
 * (`host.leaving`): its folder, files, TTY and cloud-storage mounts stay as
 * they are, for the next start to adopt. A write in flight finishes first, so
 * nothing the container reads is left half-done by a stop; only the actor
 * ends. A container that died is drained as usual, whoever asks.
 *
 * DPI requests that arrive while DPI are being written wait their
 * turn (at most MAX_QUEUED_DPI of them): each is written in order
 * and answered after its own write, so a webserver that retries or sends two
 * values close together gets 200s, not a refusal.
 *
 * From `ttyAssigned` on, each cloud-storage mount the webserver asks for is a
 * child actor (machines/mount.ts); draining stops them all before the folder
 * goes. Mounts an earlier run left serving for an adopted container are its
 * children from the start (`adopted.mounts`).
 *
 * A container that cannot be set up (no published port, no free TTY, a write
 * that failed) is drained at once and then parked in `rejected` until the
 * engine reports its death, so that a re-list does not retry it forever.
 *
 * Side effects are placeholders (`inspectContainer`, `writeStartFiles`, ...)
 * that src/ supplies with `containerMachine.provide(...)`.
 */
import { assign, enqueueActions, fromPromise, sendParent, setup, type ActorRefFrom } from 'xstate';
import { timeNanoToMs } from '../events.js';
import { mountMachine, type MountMachineLogic } from '../mount/machine.js';
import { errorMessage, notProvided, type MachineVoice } from '../shared.js';
import type { InspectionVerdict } from './inspection.js';
import {
  INSPECTION_ATTEMPTS,
  INSPECTION_RETRY_BASE_MS,
  MAX_QUEUED_DPI,
  type ContainerContext,
  type ContainerEvent,
  type ContainerInput,
} from './types.js';

/**
 * After a DPI write, whichever way it went, its request is answered; then on
 * to `done` or `failed`, or to `detaching` when the service is stopping.
 */
function answeredThen<Done extends string, Failed extends string>(done: Done, failed: Failed) {
  const replyFailed = {
    type: 'replyDpiFailed' as const,
    params: ({ event }: { event: { error: unknown } }) => ({ error: event.error }),
  };
  return {
    onDone: [
      {
        guard: 'leaving' as const,
        target: '#container.detaching' as const,
        actions: ['replyDpiWritten', 'requestAnswered'] as const,
      },
      { target: done, actions: ['replyDpiWritten', 'requestAnswered'] as const },
    ],
    onError: [
      {
        guard: 'leaving' as const,
        target: '#container.detaching' as const,
        actions: [replyFailed, 'requestAnswered'] as const,
      },
      { target: failed, actions: [replyFailed, 'requestAnswered'] as const },
    ],
  };
}

export const containerMachine = setup({
  types: {
    context: {} as ContainerContext,
    events: {} as ContainerEvent,
    input: {} as ContainerInput,
  },
  actors: {
    mount: mountMachine,
    /** Inspects and classifies (./inspection.ts): the event's payload is never trusted. */
    inspectContainer: fromPromise<InspectionVerdict, { containerId: string }>(
      notProvided('inspectContainer'),
    ),
    /** Makes the folder and writes `hostPort_for_my_32262_tcp`, then `tty`. */
    writeStartFiles: fromPromise<void, { containerId: string; hostPort: number; tty: number }>(
      notProvided('writeStartFiles'),
    ),
    /** Writes `DPI`, then `.ready`. */
    writeDpi: fromPromise<void, { containerId: string; dpi: number }>(notProvided('writeDpi')),
    /** Deletes the folder and unmounts cloud storage; every step attempted. */
    cleanUpContainer: fromPromise<void, { containerId: string; hostPort: number | undefined }>(
      notProvided('cleanUpContainer'),
    ),
  },
  actions: {
    /** Logs and reports (Sentry) a failure of this container. */
    reportError: (_, _params: { message: string }) => {},
    /** Logs a step of the lifecycle at info level. */
    logStep: (_, _params: { message: string }) => {},
    /** One warn line: worth knowing, nothing for a person to do. */
    logWarning: (_, _params: { message: string }) => {},
    claimResources: sendParent(({ context }) => ({
      type: 'resources.claim' as const,
      containerId: context.containerId,
      hostPort: context.hostPort!,
      startedAtMs: context.startedAtMs!,
    })),
    /** Tells the host that requests for this host port may now come here. */
    announceDraining: sendParent(({ context }) => ({
      type: 'container.draining' as const,
      containerId: context.containerId,
    })),
    announceAcceptingRequests: sendParent(({ context }) => ({
      type: 'container.acceptingRequests' as const,
      containerId: context.containerId,
      hostPort: context.hostPort!,
    })),
    releaseResources: sendParent(({ context }) => ({
      type: 'resources.release' as const,
      containerId: context.containerId,
    })),
    announceRemoved: sendParent(({ context }) => ({
      type: 'container.removed' as const,
      containerId: context.containerId,
    })),
    announceDetached: sendParent(({ context }) => ({
      type: 'container.detached' as const,
      containerId: context.containerId,
    })),
    refuseDpi: sendParent(({ context, self }, event: Extract<ContainerEvent, { type: 'dpi.set' }>) => ({
      type: 'api.reply' as const,
      requestId: event.requestId,
      status: 406 as const,
      error: `container ${context.containerId} cannot take a DPI while ${describeState(self.getSnapshot().value)}`,
    })),
    /** Requests caught mid-write or waiting by the drain or a stop still get their answers. */
    answerInterruptedRequest: enqueueActions(({ context, enqueue }, params: { why: string }) => {
      const owed = [context.pendingRequestId, ...context.queuedDpi.map((q) => q.requestId)];
      for (const requestId of owed) {
        if (requestId === undefined) continue;
        enqueue.sendParent({
          type: 'api.reply',
          requestId,
          status: 406,
          error: `container ${context.containerId}: ${params.why}`,
        });
      }
      enqueue.assign({ pendingRequestId: undefined, queuedDpi: [] });
    }),
    queueDpi: enqueueActions(({ context, enqueue }, event: Extract<ContainerEvent, { type: 'dpi.set' }>) => {
      if (context.queuedDpi.length >= MAX_QUEUED_DPI) {
        enqueue.sendParent({
          type: 'api.reply',
          requestId: event.requestId,
          status: 406,
          error: `container ${context.containerId} already has ${MAX_QUEUED_DPI} DPI requests waiting`,
        });
        return;
      }
      enqueue.assign({
        queuedDpi: [...context.queuedDpi, { requestId: event.requestId, dpi: event.dpi }],
      });
    }),
    takeQueuedDpi: assign(({ context }) => ({
      dpi: context.queuedDpi[0]?.dpi,
      pendingRequestId: context.queuedDpi[0]?.requestId,
      queuedDpi: context.queuedDpi.slice(1),
    })),
    replyDpiWritten: sendParent(({ context }) => ({
      type: 'api.reply' as const,
      requestId: context.pendingRequestId ?? '',
      status: 200 as const,
      result: `DPI of container ${context.containerId} set to ${context.dpi}`,
    })),
    replyDpiFailed: sendParent(({ context }, params: { error: unknown }) => ({
      type: 'api.reply' as const,
      requestId: context.pendingRequestId ?? '',
      status: 406 as const,
      error: `could not write the DPI: ${errorMessage(params.error)}`,
    })),
    // Not an exit action: exits run before transition actions, and the reply still needs the id.
    requestAnswered: assign({ pendingRequestId: undefined }),
    startOrRefuseMount: enqueueActions(
      ({ context, enqueue, self }, event: Extract<ContainerEvent, { type: 'cloudStorage.mount' }>) => {
        const refuse = (error: string) =>
          enqueue.sendParent({ type: 'api.reply', requestId: event.requestId, status: 406, error });
        const snapshot = self.getSnapshot();
        if (!MOUNTABLE_STATES.some((state) => snapshot.matches(state))) {
          refuse(
            `container ${context.containerId} cannot mount cloud storage while ${describeState(snapshot.value)}`,
          );
          return;
        }
        if (context.mounts[event.provider] !== undefined) {
          refuse(`${event.provider} is already mounted for host port ${context.hostPort}`);
          return;
        }
        enqueue.assign({
          mounts: ({ context, spawn }) => ({
            ...context.mounts,
            [event.provider]: spawn('mount', {
              id: `mount:${event.provider}`,
              input: {
                containerId: context.containerId,
                hostPort: context.hostPort!,
                provider: event.provider,
                requestId: event.requestId,
                credentials: event.credentials,
              },
            }),
          }),
        });
      },
    ),
    forgetMount: assign(({ context }, event: Extract<ContainerEvent, { type: 'mount.gone' }>) => {
      const { [event.provider]: _gone, ...rest } = context.mounts;
      return { mounts: rest };
    }),
    stopMounts: enqueueActions(({ context, enqueue }) => {
      for (const mount of Object.values(context.mounts)) enqueue.sendTo(mount, { type: 'mount.stop' });
    }),
    detachMounts: enqueueActions(({ context, enqueue }) => {
      for (const mount of Object.values(context.mounts)) enqueue.sendTo(mount, { type: 'mount.detach' });
    }),
    markLeaving: assign({ leaving: true }),
    /** The DPI to write next, and the request to answer once it is written. */
    takeDpi: assign((_, event: { requestId: string; dpi: number }) => ({
      dpi: event.dpi,
      pendingRequestId: event.requestId,
    })),
    /** A mount's answer to the webserver goes up to the host like the container's own. */
    forwardReply: sendParent((_, event: Extract<ContainerEvent, { type: 'api.reply' }>) => event),
  },
  guards: {
    inspectionSays: (_, params: { verdict: InspectionVerdict; kind: InspectionVerdict['kind'] }) =>
      params.verdict.kind === params.kind,
    /** A die older than this container's start belongs to an earlier life of the same id. */
    isCurrentDeath: ({ context }, event: { timeNano: string }) =>
      context.startedAtMs === undefined || timeNanoToMs(event.timeNano) >= context.startedAtMs,
    ended: ({ context }) => context.ended,
    leaving: ({ context }) => context.leaving,
    lostAdoptedTty: ({ context }, event: { tty: number }) =>
      context.adopted?.tty !== undefined && context.adopted.tty !== event.tty,
    adoptedFilesCurrent: ({ context }, event: { tty: number }) =>
      context.adopted?.tty === event.tty && context.adopted.hostPort === context.hostPort,
    adoptedFilesAndDpiCurrent: ({ context }, event: { tty: number }) =>
      context.adopted?.tty === event.tty &&
      context.adopted.hostPort === context.hostPort &&
      context.adopted.ready &&
      context.adopted.dpi !== undefined,
    hadDpi: ({ context }) => context.adopted?.ready === true && context.adopted.dpi !== undefined,
    noMountsLeft: ({ context }) => Object.keys(context.mounts).length === 0,
    hasQueuedDpi: ({ context }) => context.queuedDpi.length > 0,
    mayInspectAgain: ({ context }) => context.inspectionFailures + 1 < INSPECTION_ATTEMPTS,
  },
  delays: {
    dpiTimeout: ({ context }) => context.dpiTimeoutMs,
    inspectionRetry: ({ context }) => context.inspectionRetryBaseMs * 2 ** (context.inspectionFailures - 1),
  },
}).createMachine({
  id: 'container',
  context: ({ input, spawn }) => ({
    containerId: input.containerId,
    name: undefined,
    hostPort: undefined,
    tty: undefined,
    dpi: undefined,
    startedAtMs: undefined,
    error: undefined,
    pendingRequestId: undefined,
    queuedDpi: [],
    ended: false,
    leaving: false,
    dpiTimeoutMs: input.dpiTimeoutMs,
    inspectionFailures: 0,
    inspectionRetryBaseMs: input.inspectionRetryBaseMs ?? INSPECTION_RETRY_BASE_MS,
    adopted: input.adopted,
    // Still served by the rclone an earlier run started: watched from now on, unmounted if the container is gone.
    mounts: Object.fromEntries(
      (input.adopted?.hostPort === undefined ? [] : (input.adopted.mounts ?? [])).map((provider) => [
        provider,
        spawn('mount', {
          id: `mount:${provider}`,
          input: {
            containerId: input.containerId,
            hostPort: input.adopted!.hostPort!,
            provider,
            adopted: true,
          },
        }),
      ]),
    ),
  }),
  initial: 'requested',
  on: {
    'container.died': {
      guard: { type: 'isCurrentDeath', params: ({ event }) => event },
      target: '.draining',
      actions: assign({ ended: true }),
    },
    'host.leaving': { target: '.detaching' },
    // The DPI are only taken in ttyAssigned and running; anywhere else the request is answered at once.
    'dpi.set': {
      actions: { type: 'refuseDpi', params: ({ event }) => event },
    },
    'cloudStorage.mount': { actions: { type: 'startOrRefuseMount', params: ({ event }) => event } },
    'mount.gone': { actions: { type: 'forgetMount', params: ({ event }) => event } },
    'api.reply': { actions: { type: 'forwardReply', params: ({ event }) => event } },
  },
  states: {
    requested: {
      initial: 'inspecting',
      states: {
        inspecting: {
          invoke: {
            src: 'inspectContainer',
            input: ({ context }) => ({ containerId: context.containerId }),
            onDone: [
              {
                guard: {
                  type: 'inspectionSays',
                  params: ({ event }) => ({ verdict: event.output, kind: 'ignored' as const }),
                },
                target: '#container.removed',
                actions: {
                  type: 'logStep',
                  params: { message: 'the ECS agent container is not ours; ignored' },
                },
              },
              {
                // Gone before it was set up, or (adopted) gone while the service was down: clean up what is there.
                guard: {
                  type: 'inspectionSays',
                  params: ({ event }) => ({ verdict: event.output, kind: 'notRunning' as const }),
                },
                target: '#container.draining',
                actions: [
                  assign({ ended: true }),
                  { type: 'logStep', params: { message: 'the container is not running; cleaning up' } },
                ],
              },
              {
                guard: {
                  type: 'inspectionSays',
                  params: ({ event }) => ({ verdict: event.output, kind: 'ready' as const }),
                },
                target: 'claiming',
                actions: assign(({ event }) =>
                  event.output.kind === 'ready'
                    ? {
                        name: event.output.name,
                        startedAtMs: event.output.startedAtMs,
                        hostPort: event.output.hostPort,
                      }
                    : {},
                ),
              },
              {
                target: '#container.draining',
                actions: [
                  assign(({ event }) =>
                    event.output.kind === 'unusable'
                      ? { name: event.output.name, error: event.output.reason }
                      : {},
                  ),
                  // A build container or another service on the host: not ours, nothing is wrong.
                  {
                    type: 'logWarning',
                    params: ({ context }) => ({
                      message: `not a streaming container: ${context.error ?? ''}`,
                    }),
                  },
                ],
              },
            ],
            onError: [
              {
                guard: 'mayInspectAgain',
                target: 'waitingToInspectAgain',
                actions: [
                  assign({ inspectionFailures: ({ context }) => context.inspectionFailures + 1 }),
                  {
                    type: 'logStep',
                    params: ({ event }) => ({
                      message: `inspection failed, trying again: ${errorMessage(event.error)}`,
                    }),
                  },
                ],
              },
              {
                target: '#container.draining',
                actions: [
                  assign({
                    error: ({ event }) =>
                      `inspection failed ${INSPECTION_ATTEMPTS} times: ${errorMessage(event.error)}`,
                  }),
                  { type: 'reportError', params: ({ context }) => ({ message: context.error ?? '' }) },
                ],
              },
            ],
          },
        },
        waitingToInspectAgain: {
          after: { inspectionRetry: 'inspecting' },
        },
        claiming: {
          entry: 'claimResources',
          on: {
            'resources.granted': [
              {
                // Two folders of an earlier run claimed the same TTY and this one lost it.
                guard: { type: 'lostAdoptedTty', params: ({ event }) => event },
                target: 'writingFiles',
                actions: [
                  assign({ tty: ({ event }) => event.tty }),
                  {
                    type: 'reportError',
                    params: ({ context, event }) => ({
                      message: `TTY ${context.adopted?.tty} is held by another container; moved to TTY ${event.tty}`,
                    }),
                  },
                ],
              },
              // Adopted with its files already right: nothing to rewrite, so a restart costs no fsyncs.
              {
                guard: { type: 'adoptedFilesAndDpiCurrent', params: ({ event }) => event },
                target: '#container.running',
                actions: assign({
                  tty: ({ event }) => event.tty,
                  dpi: ({ context }) => context.adopted?.dpi,
                }),
              },
              {
                guard: { type: 'adoptedFilesCurrent', params: ({ event }) => event },
                target: '#container.ttyAssigned',
                actions: assign({ tty: ({ event }) => event.tty }),
              },
              { target: 'writingFiles', actions: assign({ tty: ({ event }) => event.tty }) },
            ],
            'resources.denied': {
              target: '#container.draining',
              actions: [
                assign({ error: ({ event }) => event.reason }),
                { type: 'reportError', params: ({ event }) => ({ message: event.reason }) },
              ],
            },
          },
        },
        writingFiles: {
          on: { 'host.leaving': { actions: 'markLeaving' } },
          invoke: {
            src: 'writeStartFiles',
            input: ({ context }) => ({
              containerId: context.containerId,
              hostPort: context.hostPort!,
              tty: context.tty!,
            }),
            onDone: [
              { guard: 'leaving', target: '#container.detaching' },
              // An adopted container that had its DPI keeps running as it was.
              {
                guard: 'hadDpi',
                target: '#container.running',
                actions: assign({ dpi: ({ context }) => context.adopted?.dpi }),
              },
              { target: '#container.ttyAssigned' },
            ],
            // A failed write is drained whatever happens next: the folder is incomplete.
            onError: {
              target: '#container.draining',
              actions: [
                assign({
                  error: ({ event }) => `writing the start files failed: ${errorMessage(event.error)}`,
                }),
                { type: 'reportError', params: ({ context }) => ({ message: context.error ?? '' }) },
              ],
            },
          },
        },
      },
    },
    ttyAssigned: {
      entry: [
        'announceAcceptingRequests',
        {
          type: 'logStep',
          params: ({ context }) => ({
            message: `tty ${context.tty} and host port ${context.hostPort} written`,
          }),
        },
      ],
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
    mounted: {
      on: {
        'dpi.set': { actions: { type: 'queueDpi', params: ({ event }) => event } },
        'host.leaving': { actions: 'markLeaving' },
      },
      invoke: {
        src: 'writeDpi',
        input: ({ context }) => ({ containerId: context.containerId, dpi: context.dpi! }),
        ...answeredThen('#container.running', '#container.ttyAssigned'),
      },
    },
    running: {
      entry: [
        'announceAcceptingRequests',
        { type: 'logStep', params: { message: 'DPI written; the container is ready' } },
      ],
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
        updatingDpi: {
          on: {
            'dpi.set': { actions: { type: 'queueDpi', params: ({ event }) => event } },
            'host.leaving': { actions: 'markLeaving' },
          },
          invoke: {
            src: 'writeDpi',
            input: ({ context }) => ({ containerId: context.containerId, dpi: context.dpi! }),
            ...answeredThen('#container.running.idle', '#container.running.idle'),
          },
        },
      },
    },
    draining: {
      entry: ['announceDraining', { type: 'answerInterruptedRequest', params: { why: 'it is going away' } }],
      initial: 'unmounting',
      states: {
        // Each mount unmounts and removes its folder; each one's `mount.gone` shrinks the list.
        unmounting: {
          entry: 'stopMounts',
          always: { guard: 'noMountsLeft', target: 'cleaningUp' },
        },
        cleaningUp: {
          invoke: {
            src: 'cleanUpContainer',
            input: ({ context }) => ({ containerId: context.containerId, hostPort: context.hostPort }),
            onDone: [
              {
                guard: 'ended',
                target: '#container.removed',
                actions: {
                  type: 'logStep',
                  params: {
                    message: 'container gone: its folder is removed, its TTY and host port released',
                  },
                },
              },
              { target: '#container.rejected' },
            ],
            onError: [
              {
                guard: 'ended',
                target: '#container.removed',
                actions: {
                  type: 'reportError',
                  params: ({ event }) => ({ message: `clean-up incomplete: ${errorMessage(event.error)}` }),
                },
              },
              {
                target: '#container.rejected',
                actions: {
                  type: 'reportError',
                  params: ({ event }) => ({ message: `clean-up incomplete: ${errorMessage(event.error)}` }),
                },
              },
            ],
          },
        },
      },
      // The TTY and host port go back only once the folder is gone, so no newcomer meets stale files.
      exit: 'releaseResources',
      on: {
        // Already draining: a die or a stop of the service only changes where we go next.
        'container.died': { actions: assign({ ended: true }) },
        'host.leaving': { actions: 'markLeaving' },
      },
    },
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
    detached: {
      type: 'final',
      entry: 'announceDetached',
    },
    removed: {
      type: 'final',
      entry: 'announceRemoved',
    },
  },
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

/** Where a container has its folder and is not going away: mounts may be asked for. */
const MOUNTABLE_STATES = ['ttyAssigned', 'mounted', 'running'] as const;

function describeState(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** Everything the container machine asks of the outside world: src/ supplies each one, or it does not compile. */
export interface ContainerImplementations {
  mount: MountMachineLogic;
  inspectContainer(containerId: string): Promise<InspectionVerdict>;
  /** Makes the folder and writes `hostPort_for_my_32262_tcp`, then `tty`. */
  writeStartFiles(containerId: string, hostPort: number, tty: number): Promise<void>;
  /** Writes `DPI`, then `.ready`. */
  writeDpi(containerId: string, dpi: number): Promise<void>;
  /** Removes the folder (the mounts are gone by then). */
  cleanUpContainer(containerId: string): Promise<void>;
  voice: MachineVoice<ContainerContext>;
}

export function containerMachineWith(impl: ContainerImplementations) {
  return containerMachine.provide({
    actors: {
      mount: impl.mount,
      inspectContainer: fromPromise(({ input }) => impl.inspectContainer(input.containerId)),
      writeStartFiles: fromPromise(({ input }) =>
        impl.writeStartFiles(input.containerId, input.hostPort, input.tty),
      ),
      writeDpi: fromPromise(({ input }) => impl.writeDpi(input.containerId, input.dpi)),
      cleanUpContainer: fromPromise(({ input }) => impl.cleanUpContainer(input.containerId)),
    },
    actions: {
      reportError: ({ context }, params) => impl.voice.reportError(context, params.message),
      logStep: ({ context }, params) => impl.voice.logStep(context, params.message),
      logWarning: ({ context }, params) => impl.voice.logWarning(context, params.message),
    },
  });
}

export type ContainerMachineLogic = ReturnType<typeof containerMachineWith>;
