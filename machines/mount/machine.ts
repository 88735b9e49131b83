/**
 * One cloud-storage mount of one container, a child of the container actor:
 *
 *   starting → mounting → mounted → unmounting → gone
 *                  └──────────┴──→ failed ──────→ gone
 *                             └──→ detached
 *
 * `starting` only chooses: a mount that an earlier run of the service left
 * serving (adopted at start, its rclone still running) goes straight to
 * `mounted`; a new one is mounted.
 *
 * `mounting` answers the webserver's request: 200 once rclone serves the
 * folder, 406 if it did not within the mount deadline. A mount that ends on
 * its own later is reported and cleaned up (`failed`). `mount.stop` (the
 * container dies or the host stops) unmounts. Every way ends in `gone`, after
 * the mount folder has been removed, except `detached`: the service is
 * stopping while the container keeps running, so rclone keeps serving and
 * the next start adopts the mount (`mount.detach`).
 *
 * Side effects are placeholders (`startMount`, `watchMount`, `stopMount`)
 * that src/ supplies with `mountMachine.provide(...)`.
 */
import { assign, enqueueActions, fromPromise, sendParent, setup, type ActorRefFrom } from 'xstate';
import type { CloudCredentials, Sealed } from '../events.js';
import { enqueueApiReply, errorMessage, notProvided, type MachineVoice } from '../shared.js';

export interface MountTarget {
  hostPort: number;
  provider: string;
}

export type MountInput = MountTarget & { containerId: string } & (
    | { adopted?: false; requestId: string; credentials: Sealed<CloudCredentials> }
    /** Left serving by an earlier run: no request to answer, rclone already holds the credentials. */
    | { adopted: true }
  );

export interface MountContext extends MountTarget {
  containerId: string;
  /** The request still owed an answer; cleared once answered. */
  requestId: string | undefined;
  /** Dropped once mounted: rclone holds them from then on. */
  credentials: Sealed<CloudCredentials> | undefined;
  error: string | undefined;
  adopted: boolean;
}

/** `mount.stop`: unmount (the container went away); `mount.detach`: let go, leaving it serving (the service stops). */
export type MountEvent = { type: 'mount.stop' } | { type: 'mount.detach' };

/** Events a mount sends to its container. */
export type MountToContainerEvent = { type: 'mount.gone'; provider: string };

export const mountMachine = setup({
  types: {
    context: {} as MountContext,
    events: {} as MountEvent,
    input: {} as MountInput,
  },
  actors: {
    /** Makes the folder and starts rclone; resolves once the folder is served, rejects after the deadline. */
    startMount: fromPromise<void, MountTarget & { credentials: Sealed<CloudCredentials> }>(
      notProvided('startMount'),
    ),
    /** Resolves with the reason when the mount ends without being asked to. */
    watchMount: fromPromise<string, MountTarget>(notProvided('watchMount')),
    /** Unmounts (lazily), stops rclone and removes the mount folder; nothing else. */
    stopMount: fromPromise<void, MountTarget>(notProvided('stopMount')),
  },
  actions: {
    reportError: (_, _params: { message: string }) => {},
    logStep: (_, _params: { message: string }) => {},
    replyMounted: enqueueActions(({ context, system, enqueue }) =>
      enqueueApiReply(enqueue, system, {
        requestId: context.requestId ?? '',
        status: 200,
        result: `${context.provider} mounted for host port ${context.hostPort}`,
      }),
    ),
    replyFailed: enqueueActions(({ context, system, enqueue }, params: { error: string }) =>
      enqueueApiReply(enqueue, system, {
        requestId: context.requestId ?? '',
        status: 406,
        error: params.error,
      }),
    ),
    forgetRequest: assign({ requestId: undefined, credentials: undefined }),
    announceGone: sendParent(({ context }) => ({ type: 'mount.gone' as const, provider: context.provider })),
  },
  guards: {
    isAdopted: ({ context }) => context.adopted,
  },
}).createMachine({
  id: 'mount',
  context: ({ input }) => ({
    containerId: input.containerId,
    hostPort: input.hostPort,
    provider: input.provider,
    requestId: input.adopted === true ? undefined : input.requestId,
    credentials: input.adopted === true ? undefined : input.credentials,
    error: undefined,
    adopted: input.adopted === true,
  }),
  initial: 'starting',
  states: {
    starting: {
      always: [{ guard: 'isAdopted', target: 'mounted' }, { target: 'mounting' }],
    },
    mounting: {
      invoke: {
        src: 'startMount',
        input: ({ context }) => ({
          hostPort: context.hostPort,
          provider: context.provider,
          credentials: context.credentials!,
        }),
        onDone: {
          target: 'mounted',
          actions: [
            'replyMounted',
            'forgetRequest',
            { type: 'logStep', params: ({ context }) => ({ message: `${context.provider} mounted` }) },
          ],
        },
        onError: {
          target: 'failed',
          actions: [
            assign({ error: ({ event }) => `mounting failed: ${errorMessage(event.error)}` }),
            { type: 'replyFailed', params: ({ context }) => ({ error: context.error ?? '' }) },
            'forgetRequest',
            { type: 'logStep', params: ({ context }) => ({ message: context.error ?? '' }) },
          ],
        },
      },
      on: {
        'mount.stop': {
          target: 'unmounting',
          actions: [
            {
              type: 'replyFailed',
              params: ({ context }) => ({
                error: `container ${context.containerId} went away while ${context.provider} was mounting`,
              }),
            },
            'forgetRequest',
          ],
        },
        // Not yet served and its request about to be refused: nothing a container relies on yet.
        'mount.detach': {
          target: 'unmounting',
          actions: [
            {
              type: 'replyFailed',
              params: ({ context }) => ({
                error: `the host service is stopping; ${context.provider} was not mounted`,
              }),
            },
            'forgetRequest',
          ],
        },
      },
    },
    mounted: {
      invoke: {
        src: 'watchMount',
        input: ({ context }) => ({ hostPort: context.hostPort, provider: context.provider }),
        onDone: {
          target: 'failed',
          actions: [
            assign({ error: ({ event }) => `the mount ended: ${event.output}` }),
            { type: 'reportError', params: ({ context }) => ({ message: context.error ?? '' }) },
          ],
        },
        onError: {
          target: 'failed',
          actions: [
            assign({ error: ({ event }) => `watching the mount failed: ${errorMessage(event.error)}` }),
            { type: 'reportError', params: ({ context }) => ({ message: context.error ?? '' }) },
          ],
        },
      },
      on: {
        'mount.stop': 'unmounting',
        'mount.detach': {
          target: 'detached',
          actions: {
            type: 'logStep',
            params: ({ context }) => ({ message: `${context.provider} left serving for the next start` }),
          },
        },
      },
    },
    // Cleans up what a failed mount left: the same steps as unmounting, reached without being asked.
    failed: {
      invoke: {
        src: 'stopMount',
        input: ({ context }) => ({ hostPort: context.hostPort, provider: context.provider }),
        onDone: 'gone',
        onError: {
          target: 'gone',
          actions: {
            type: 'reportError',
            params: ({ event }) => ({
              message: `clean-up after a failed mount: ${errorMessage(event.error)}`,
            }),
          },
        },
      },
    },
    unmounting: {
      invoke: {
        src: 'stopMount',
        input: ({ context }) => ({ hostPort: context.hostPort, provider: context.provider }),
        onDone: {
          target: 'gone',
          actions: {
            type: 'logStep',
            params: ({ context }) => ({ message: `${context.provider} unmounted` }),
          },
        },
        onError: {
          target: 'gone',
          actions: {
            type: 'reportError',
            params: ({ event }) => ({ message: `unmounting failed: ${errorMessage(event.error)}` }),
          },
        },
      },
    },
    gone: { type: 'final', entry: 'announceGone' },
    // rclone keeps serving the running container; this actor only stops watching it.
    detached: { type: 'final', entry: 'announceGone' },
  },
});

export type MountActorRef = ActorRefFrom<typeof mountMachine>;

/** Everything the mount machine asks of the outside world: src/ supplies each one, or it does not compile. */
export interface MountImplementations {
  startMount(target: MountTarget, credentials: Sealed<CloudCredentials>): Promise<void>;
  /** Resolves with the reason when the mount ends without being asked to. */
  watchMount(target: MountTarget): Promise<string>;
  stopMount(target: MountTarget): Promise<void>;
  voice: Omit<MachineVoice<MountContext>, 'logWarning'>;
}

export function mountMachineWith(impl: MountImplementations) {
  return mountMachine.provide({
    actors: {
      startMount: fromPromise(({ input }) => impl.startMount(input, input.credentials)),
      watchMount: fromPromise(({ input }) => impl.watchMount(input)),
      stopMount: fromPromise(({ input }) => impl.stopMount(input)),
    },
    actions: {
      reportError: ({ context }, params) => impl.voice.reportError(context, params.message),
      logStep: ({ context }, params) => impl.voice.logStep(context, params.message),
    },
  });
}

export type MountMachineLogic = ReturnType<typeof mountMachineWith>;
