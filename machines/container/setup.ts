/**
 * What the container machine (./machine.ts) is made of: the placeholders that
 * src/ supplies (`containerMachineWith`), its actions, guards and delays, and
 * the context a container starts with. The states that use them, and what
 * each state means, are in ./machine.ts.
 */
import { assign, enqueueActions, sendParent, setup } from 'xstate';
import { mountMachine } from '../mount/machine.js';
import { enqueueApiReply, errorMessage, notProvided } from '../shared.js';
import type { InspectionVerdict } from './inspection.js';
import {
  INSPECTION_FAILURES_REPORTED,
  INSPECTION_RETRY_BASE_MS,
  INSPECTION_RETRY_MAX_MS,
  MAX_QUEUED_DPI,
  type ContainerContext,
  type ContainerEvent,
  type ContainerInput,
  type ContainerOutput,
  type GrantFacts,
} from './types.js';

/**
 * Where a container holds its TTY and host port and is not going away: mounts
 * may be asked for. The host sends requests from the grant on, so a mount may
 * start while the start files are written; it does not use the folder.
 */
const MOUNTABLE_STATES = [{ requested: 'writingFiles' }, 'ttyAssigned', 'mounted', 'running'] as const;

/** What a ready verdict tells the container; a reported run of failed inspections is over. */
function readyFacts(verdict: InspectionVerdict): Partial<ContainerContext> {
  if (verdict.kind !== 'ready') return {};
  return {
    name: verdict.name,
    startedAtMs: verdict.startedAtMs,
    hostPort: verdict.hostPort,
    error: undefined,
  };
}

/**
 * The TTY granted, with the verdict it came with. `tty` is set on the object
 * `readyFacts` made, not spread into a new one with it: an object spread and
 * then given a new key made V8 build hidden classes at every grant (about
 * 0.4 kB at --max-opt=1, 0.1 kB this way).
 */
function grantFacts(params: GrantFacts | undefined): Partial<ContainerContext> {
  if (params === undefined) return {};
  const facts = params.verdict === undefined ? {} : readyFacts(params.verdict);
  facts.tty = params.tty;
  return facts;
}

function describeState(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

export const containerSetup = setup({
  types: {
    context: {} as ContainerContext,
    events: {} as ContainerEvent,
    input: {} as ContainerInput,
    output: {} as ContainerOutput,
  },
  actors: {
    mount: mountMachine,
  },
  actions: {
    // The container's own I/O: each starts a call that answers with its
    // ContainerIoEvent pair (./types.ts; `containerIoActions` in ./machine.ts).
    // Actions, not invoked promise actors: an invoked actor is made, started,
    // stepped and stopped for every call, which made a round trip cost about
    // twice the CPU when the code is cold, as it is on a host that starts a
    // container now and then (bench/MEASUREMENTS.md, "One at a time, as a fleet host works").
    /** Inspects and classifies (./inspection.ts): the event's payload is never trusted. */
    inspectContainer: (_, _params: undefined): void => notProvided('inspectContainer')(),
    /** Makes the folder and writes `hostPort_for_my_32262_tcp`, then `tty`. */
    writeStartFiles: (_, _params: undefined): void => notProvided('writeStartFiles')(),
    /** Writes `DPI`, then `.ready`. */
    writeDpi: (_, _params: undefined): void => notProvided('writeDpi')(),
    /** Deletes the folder (the mounts are gone by then). */
    cleanUpContainer: (_, _params: undefined): void => notProvided('cleanUpContainer')(),
    /** Logs and reports (Sentry) a failure of this container. */
    reportError: (_, _params: { message: string }) => {},
    /** Logs a step of the lifecycle at info level. */
    logStep: (_, _params: { message: string }) => {},
    /** One warn line: worth knowing, nothing for a person to do. */
    logWarning: (_, _params: { message: string }) => {},
    takeVerdict: assign((_, params: { verdict: InspectionVerdict }) => readyFacts(params.verdict)),
    /** The TTY granted, with the verdict it came with. */
    takeGrant: assign((_, params: GrantFacts | undefined) => grantFacts(params)),
    takeAdoptedDpi: assign({ dpi: ({ context }) => context.adopted?.dpi }),
    /** Why the host refused the claim, shown in snapshots. */
    takeDenial: assign((_, reason: string | undefined) => ({ error: reason })),
    /**
     * Tells the host that it drains, unless its death started the drain: the
     * host sent the death, and marked it draining then (one host step fewer a
     * lifecycle).
     */
    announceDraining: enqueueActions(({ context, event, enqueue }) => {
      if (event.type === 'container.died') return;
      enqueue.sendParent({ type: 'container.draining', containerId: context.containerId });
    }),
    releaseResources: sendParent(({ context }) => ({
      type: 'resources.release' as const,
      containerId: context.containerId,
    })),
    refuseDpi: enqueueActions(
      ({ context, self, system, enqueue }, event: Extract<ContainerEvent, { type: 'dpi.set' }>) =>
        enqueueApiReply(enqueue, system, {
          requestId: event.requestId,
          status: 406,
          error: `container ${context.containerId} cannot take a DPI while ${describeState(self.getSnapshot().value)}`,
        }),
    ),
    /** Requests caught mid-write or waiting by the drain or a stop still get their answers. */
    answerInterruptedRequest: enqueueActions(({ context, system, enqueue }, params: { why: string }) => {
      const owed = [context.pendingRequestId, ...context.queuedDpi.map((q) => q.requestId)];
      for (const requestId of owed) {
        if (requestId === undefined) continue;
        enqueueApiReply(enqueue, system, {
          requestId,
          status: 406,
          error: `container ${context.containerId}: ${params.why}`,
        });
      }
      enqueue.assign({ pendingRequestId: undefined, queuedDpi: [] });
    }),
    queueDpi: enqueueActions(
      ({ context, system, enqueue }, event: Extract<ContainerEvent, { type: 'dpi.set' }>) => {
        if (context.queuedDpi.length >= MAX_QUEUED_DPI) {
          enqueueApiReply(enqueue, system, {
            requestId: event.requestId,
            status: 406,
            error: `container ${context.containerId} already has ${MAX_QUEUED_DPI} DPI requests waiting`,
          });
          return;
        }
        enqueue.assign({
          queuedDpi: [...context.queuedDpi, { requestId: event.requestId, dpi: event.dpi }],
        });
      },
    ),
    takeQueuedDpi: assign(({ context }) => ({
      dpi: context.queuedDpi[0]?.dpi,
      pendingRequestId: context.queuedDpi[0]?.requestId,
      queuedDpi: context.queuedDpi.slice(1),
    })),
    replyDpiWritten: enqueueActions(({ context, system, enqueue }) =>
      enqueueApiReply(enqueue, system, {
        requestId: context.pendingRequestId ?? '',
        status: 200,
        result: `DPI of container ${context.containerId} set to ${context.dpi}`,
      }),
    ),
    replyDpiFailed: enqueueActions(({ context, system, enqueue }, params: { error: unknown }) =>
      enqueueApiReply(enqueue, system, {
        requestId: context.pendingRequestId ?? '',
        status: 406,
        error: `could not write the DPI: ${errorMessage(params.error)}`,
      }),
    ),
    // Not an exit action: exits run before transition actions, and the reply still needs the id.
    requestAnswered: assign({ pendingRequestId: undefined }),
    startOrRefuseMount: enqueueActions(
      (
        { context, enqueue, self, system },
        event: Extract<ContainerEvent, { type: 'cloudStorage.mount' }>,
      ) => {
        const refuse = (error: string) =>
          enqueueApiReply(enqueue, system, { requestId: event.requestId, status: 406, error });
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
  },
  guards: {
    inspectionSays: (_, params: { verdict: InspectionVerdict; kind: InspectionVerdict['kind'] }) =>
      params.verdict.kind === params.kind,
    ended: ({ context }) => context.ended,
    leaving: ({ context }) => context.leaving,
    isGranted: (_, grant: GrantFacts | undefined) => grant !== undefined,
    /** The host refused the claim (the reason it gave; undefined when it did not refuse it). */
    isDenied: (_, reason: string | undefined) => reason !== undefined,
    lostAdoptedTty: ({ context }, grant: GrantFacts | undefined) =>
      grant !== undefined && context.adopted?.tty !== undefined && context.adopted.tty !== grant.tty,
    adoptedFilesCurrent: ({ context }, grant: GrantFacts | undefined) =>
      grant !== undefined &&
      context.adopted?.tty === grant.tty &&
      context.adopted.hostPort === grant.hostPort,
    adoptedFilesAndDpiCurrent: ({ context }, grant: GrantFacts | undefined) =>
      grant !== undefined &&
      context.adopted?.tty === grant.tty &&
      context.adopted.hostPort === grant.hostPort &&
      context.adopted.ready &&
      context.adopted.dpi !== undefined,
    hadDpi: ({ context }) => context.adopted?.ready === true && context.adopted.dpi !== undefined,
    noMountsLeft: ({ context }) => Object.keys(context.mounts).length === 0,
    hasQueuedDpi: ({ context }) => context.queuedDpi.length > 0,
    /** The inspection failure being handled makes INSPECTION_FAILURES_REPORTED in a row. */
    reportsThisInspectionFailure: ({ context }) =>
      context.inspectionFailures + 1 === INSPECTION_FAILURES_REPORTED,
    inspectionFailuresReported: ({ context }) => context.inspectionFailures >= INSPECTION_FAILURES_REPORTED,
  },
  delays: {
    dpiTimeout: ({ context }) => context.dpiTimeoutMs,
    inspectionRetry: ({ context }) =>
      Math.min(
        context.inspectionRetryMaxMs,
        context.inspectionRetryBaseMs * 2 ** Math.min(context.inspectionFailures - 1, 30),
      ),
  },
});

type ContainerConfig = Parameters<typeof containerSetup.createMachine>[0];

/** Mounts that an earlier run left serving for an adopted container are its children from the start. */
export const containerContext: ContainerConfig['context'] = ({ input, spawn }) => ({
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
  inspectionRetryMaxMs: input.inspectionRetryMaxMs ?? INSPECTION_RETRY_MAX_MS,
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
});

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
    'dpi.written': [
      {
        guard: 'leaving' as const,
        target: '#container.detaching' as const,
        actions: ['replyDpiWritten', 'requestAnswered'] as const,
      },
      { target: done, actions: ['replyDpiWritten', 'requestAnswered'] as const },
    ],
    'dpi.failed': [
      {
        guard: 'leaving' as const,
        target: '#container.detaching' as const,
        actions: [replyFailed, 'requestAnswered'] as const,
      },
      { target: failed, actions: [replyFailed, 'requestAnswered'] as const },
    ],
  };
}

/**
 * A state that writes `context.dpi`: a request that arrives meanwhile waits
 * in the queue, and a stop lets the write finish and be answered first.
 */
export function writingDpi<Done extends string, Failed extends string>(done: Done, failed: Failed) {
  return {
    on: {
      'dpi.set': {
        actions: {
          type: 'queueDpi' as const,
          params: ({ event }: { event: Extract<ContainerEvent, { type: 'dpi.set' }> }) => event,
        },
      },
      'host.leaving': { actions: 'markLeaving' as const },
      ...answeredThen(done, failed),
    },
    entry: 'writeDpi' as const,
  };
}
