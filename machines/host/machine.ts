/**
 * The host: owns the TTY table, the host-port index and the container actors.
 *
 *   booting → handshaking → startingAgent → serving (engine ∥ api ∥ heartbeats)
 *     → stopping (askingEngine → lettingGo) → stopped
 *
 *   booting        root check, engine, identity, folders; what an earlier run left is reserved
 *   handshaking    the webserver learns this host, with retries (./handshaking.ts)
 *   startingAgent  the ECS agent is started (production only)
 *   serving        engine events, API requests and heartbeats; containers come and go (./serving.ts)
 *   stopping       running containers are let go, dead ones drained (./stopping.ts)
 *   stopped        the output says why, and which containers were left
 *
 * Any failure before serving stops the host, fatally. A stop is no worse than
 * a crash: what still runs keeps its folder, TTY and mounts for the next start
 * to adopt.
 *
 * It is the single writer of shared state: a container's inspection tells
 * the host first (`container.inspected`), which decides the claim on a TTY
 * and the host port and sends the verdict on with the answer; containers give
 * them back (`resources.release`, or at their end) and never touch the table
 * themselves. Engine observations and API requests arrive as events from
 * invoked actors that src/ provides.
 *
 * The actions, guards, delays and placeholders named here are in ./setup.ts,
 * the types in ./types.ts; src/ supplies the side effects through
 * `hostMachineWith` below.
 */
import {
  assign,
  fromCallback,
  fromEventObservable,
  fromPromise,
  type ActorRefFrom,
  type CallbackActorLogic,
  type EventObject,
} from 'xstate';
import type { Observable } from 'rxjs';
import type { ContainerMachineLogic } from '../container/machine.js';
import type { ApiReply, DockerObservation, FolderRecord } from '../events.js';
import { errorMessage, type MachineVoice } from '../shared.js';
import { handshaking } from './handshaking.js';
import { serving } from './serving.js';
import { hostContext, hostSetup } from './setup.js';
import { stopping } from './stopping.js';
import { ttysInUse } from './ttyTable.js';
import type { HostContext, RunningContainers } from './types.js';

export const hostMachine = hostSetup.createMachine({
  id: 'host',
  context: hostContext,
  initial: 'booting',
  // Shared-state bookkeeping that must keep working while stopping.
  on: {
    'host.stop': { target: '.stopping', actions: assign({ stopReason: ({ event }) => event.reason }) },
    'resources.release': {
      actions: [
        { type: 'releaseResources', params: ({ event }) => event },
        { type: 'markDraining', params: ({ event }) => event },
      ],
    },
    // A container actor's end (its output says which); the host's other actors end in their own states.
    'xstate.done.actor.*': {
      guard: { type: 'isContainerEnd', params: ({ event }) => event },
      actions: { type: 'forgetContainer', params: ({ event }) => event.output },
    },
    'container.draining': { actions: { type: 'markDraining', params: ({ event }) => event } },
    // Claims are decided while serving (./serving.ts); otherwise the verdict only goes on.
    'container.inspected': { actions: { type: 'forwardVerdict', params: ({ event }) => event } },
  },
  states: {
    booting: {
      invoke: {
        src: 'prepareHost',
        onDone: {
          target: 'handshaking',
          actions: {
            type: 'reserveAdoptedResources',
            params: ({ event }) => ({ folders: event.output.folders }),
          },
        },
        onError: {
          target: 'stopping',
          actions: assign({
            stopReason: ({ event }) => ({
              fatal: true,
              message: `boot failed: ${errorMessage(event.error)}`,
            }),
          }),
        },
      },
    },
    handshaking,
    startingAgent: {
      invoke: {
        src: 'startEcsAgent',
        onDone: 'serving',
        onError: {
          target: 'stopping',
          actions: assign({
            stopReason: ({ event }) => ({
              fatal: true,
              message: `the ECS agent could not be started: ${errorMessage(event.error)}`,
            }),
          }),
        },
      },
    },
    serving,
    stopping,
    stopped: { type: 'final' },
  },
  output: ({ context }) => ({
    stopReason: context.stopReason ?? { fatal: false, message: 'stopped' },
    leftoverContainers: [...context.containers.keys()],
  }),
});

export type HostActorRef = ActorRefFrom<typeof hostMachine>;

/** What the host's context says, for people and scripts (the state snapshot). */
export function hostFacts(context: HostContext) {
  return {
    ttysInUse: ttysInUse(context.ttyTable),
    /** Numbers that may be handed out: the TTY count less the ones reserved for the host. */
    ttysAssignable: context.ttyTable.size - context.ttyTable.firstAssignable,
    pendingRequests: context.pendingRequests.size,
    containers: Object.fromEntries([...context.containers].map(([id, c]) => [id, c.ref])),
  };
}
export { ttysInUse };
export * from './types.js';

/** Everything the host machine asks of the outside world: src/ supplies each one, or it does not compile. */
export interface HostImplementations {
  container: ContainerMachineLogic;
  /** Root check, engine, identity, webserver, folders, and what an earlier run left. */
  prepareHost(): Promise<{ folders: FolderRecord[] }>;
  /** One attempt; the machine retries with backoff and decides when to give up. */
  handshake(): Promise<{ authToken: string }>;
  dockerEvents(): Observable<DockerObservation>;
  /** The HTTPS API: sends `api.request` events up, receives `api.reply` events. */
  apiServer: CallbackActorLogic<ApiReply & EventObject, void>;
  /** Starts beating with the handshake's token; returns what stops it. */
  startHeartbeats(authToken: string): () => void;
  listRunningContainers(): Promise<RunningContainers>;
  startEcsAgent(): Promise<void>;
  voice: MachineVoice<HostContext>;
}

export function hostMachineWith(impl: HostImplementations) {
  return hostMachine.provide({
    actors: {
      container: impl.container,
      prepareHost: fromPromise(() => impl.prepareHost()),
      handshake: fromPromise(() => impl.handshake()),
      dockerEvents: fromEventObservable(() => impl.dockerEvents()),
      apiServer: impl.apiServer,
      heartbeats: fromCallback(({ input }) => impl.startHeartbeats(input.authToken)),
      listRunningContainers: fromPromise(() => impl.listRunningContainers()),
      startEcsAgent: fromPromise(() => impl.startEcsAgent()),
    },
    actions: {
      reportError: ({ context }, params) => impl.voice.reportError(context, params.message),
      logStep: ({ context }, params) => impl.voice.logStep(context, params.message),
      logWarning: ({ context }, params) => impl.voice.logWarning(context, params.message),
    },
  });
}

export type HostMachineLogic = ReturnType<typeof hostMachineWith>;
