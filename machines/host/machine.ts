/**
 * The host: owns the TTY table, the host-port index and the container actors.
 *
 *   booting → handshaking → startingAgent → serving (engine ∥ api ∥ heartbeats)
 *     → stopping (askingEngine → lettingGo) → stopped
 *
 * A stop is no worse than a crash: `stopping` asks the engine which
 * containers still run. Those are let go (`host.leaving`): their folders,
 * TTYs and mounts stay for the next start to adopt. The others are drained
 * as dead. When the engine does not answer in time, every container is let
 * go: a later start sorts out what died, while deleting what may be live
 * cannot be undone.
 *
 * It is the single writer of shared state: container actors ask for
 * resources (`resources.claim`) and give them back (`resources.release`); they
 * never touch the table themselves. Engine observations and API requests
 * arrive as events from invoked actors that src/ provides.
 */
import {
  assign,
  enqueueActions,
  fromCallback,
  fromEventObservable,
  fromPromise,
  setup,
  type ActorRefFrom,
  type AnyActorRef,
  type CallbackActorLogic,
  type EventObject,
} from 'xstate';
import type { Observable } from 'rxjs';
import {
  containerMachine,
  type ContainerActorRef,
  type ContainerMachineLogic,
  type ContainerToHostEvent,
} from '../container/machine.js';
import {
  ECS_AGENT_NAME,
  type ApiReply,
  type ApiRequest,
  type DockerObservation,
  type FolderRecord,
} from '../events.js';
import {
  claimResources,
  markDiedByList,
  releaseResources,
  type ClaimResult,
  type ResourceClaim,
} from './resourceClaims.js';
import { decideRelist, decideStop, reserveFolders, timeNanoOf } from './reconciliation.js';
import { nextRequestWait, pendingTimerId, toContainerEvent, type RequestWaitFacts } from './routing.js';
import { createTtyTable, ttysInUse, type TtyTable } from './ttyTable.js';
import { errorMessage, notProvided, type MachineVoice } from '../shared.js';

export interface HostInput {
  ttyCount: number;
  /** How long a container may wait for its DPI before it is reported. */
  dpiTimeoutMs: number;
  /** How long an API request may wait for its container to appear. */
  requestWaitMs: number;
  /**
   * While the engine stream is connected and no container is being set up,
   * how long a request waits for a start that may still be on its way
   * (default: requestWaitMs). A start on its way extends it, up to requestWaitMs.
   */
  connectedRequestWaitMs?: number;
  /** How long stopping (dead containers draining, live ones detaching) may take before the host stops regardless. */
  drainTimeoutMs: number;
  /** How long the handshake may keep failing before the host gives up (fatal). */
  handshakeTimeoutMs?: number;
  /** The first delay between handshake attempts; doubled after each failure, capped at 30 s. */
  handshakeRetryMs?: number;
}

const DEFAULT_HANDSHAKE_TIMEOUT_MS = 120_000;
const DEFAULT_HANDSHAKE_RETRY_MS = 1000;
const MAX_HANDSHAKE_RETRY_MS = 30_000;

export interface TrackedContainer {
  ref: ContainerActorRef;
  /** Set once its folder is complete: requests for its host port go to it from then on. */
  acceptsRequests: boolean;
  /** When the engine started it, once its inspection said so (`resources.claim`); engine clock, ms. */
  startedAtMs: number | undefined;
  /** It said it is cleaning up (`container.draining`): it died or could not be set up. */
  draining: boolean;
  /** The engine started the same id again while the old life was still draining. */
  restartPending: boolean;
}

export interface PendingRequest {
  requestId: string;
  request: ApiRequest;
  /** How long it has waited so far, counted in the delays it was given. */
  waitedMs: number;
}

export interface HostContext extends HostInput {
  ttyTable: TtyTable;
  /** Host port (as a string key) to the id of the container that holds it. */
  hostPorts: Record<string, string>;
  containers: Record<string, TrackedContainer>;
  /** Requests waiting for their container's folder to be complete. */
  pendingRequests: Record<string, PendingRequest>;
  /**
   * Folders an earlier run left, with their TTYs and host ports reserved,
   * until the engine's first list says which containers still run.
   */
  adoptable: Record<string, FolderRecord>;
  /** Containers the engine's list found dead, until they give back their TTY and host port. */
  diedByList: Record<string, true>;
  /** Claims that wait for one of those (machines/resourceClaims.ts). */
  deferredClaims: ResourceClaim[];
  authToken: string | undefined;
  stopReason: StopReason | undefined;
  handshakeFailures: number;
  lastHandshakeError: string | undefined;
}

export interface StopReason {
  fatal: boolean;
  message: string;
}

export type HostEvent =
  | DockerObservation
  | ContainerToHostEvent
  | { type: 'api.request'; requestId: string; request: ApiRequest }
  | { type: 'api.request.expired'; requestId: string }
  | { type: 'host.stop'; reason: StopReason };

/** The engine's answer at stop: which containers run, and when (local clock, ms) it was asked. */
export interface RunningContainers {
  running: string[];
  listedAtMs: number;
}

export interface HostOutput {
  stopReason: StopReason;
  leftoverContainers: string[];
}

function containerForHostPort(context: HostContext, hostPort: number): TrackedContainer | undefined {
  const id = context.hostPorts[hostPort];
  return id === undefined ? undefined : context.containers[id];
}

type HostSelf = { getSnapshot(): { matches(value: unknown): boolean } };

/** What the request wait depends on (./routing.ts), read from the host's own state. */
function requestWaitFacts(context: HostContext, self: HostSelf): RequestWaitFacts {
  return {
    requestWaitMs: context.requestWaitMs,
    connectedRequestWaitMs: context.connectedRequestWaitMs,
    engineConnected: self.getSnapshot().matches({ serving: { engine: 'connected' } }),
    containerSettingUp: Object.values(context.containers).some((c) => !c.acceptsRequests && !c.draining),
  };
}

function newTracked(ref: ContainerActorRef): TrackedContainer {
  return { ref, acceptsRequests: false, startedAtMs: undefined, draining: false, restartPending: false };
}

function containerInput(context: HostContext, containerId: string) {
  return {
    containerId,
    dpiTimeoutMs: context.dpiTimeoutMs,
    adopted: context.adoptable[containerId],
  };
}

interface ContainerSpawnOptions {
  id: string;
  input: ReturnType<typeof containerInput>;
}

/**
 * `containers` with a new actor for `containerId`: on a start, a re-list, an
 * adoption or a restart. `spawn` is a one-line wrapper at each call: xstate's
 * own spawner is only typed inside the machine's `assign`.
 */
function withContainerSpawned(
  context: HostContext,
  containerId: string,
  spawn: (options: ContainerSpawnOptions) => ContainerActorRef,
): Record<string, TrackedContainer> {
  const ref = spawn({ id: containerId, input: containerInput(context, containerId) });
  return { ...context.containers, [containerId]: newTracked(ref) };
}

function withoutAdoptable(context: HostContext, containerId: string): Record<string, FolderRecord> {
  const { [containerId]: _adopted, ...rest } = context.adoptable;
  return rest;
}

function withRestartPending(context: HostContext, containerId: string): Record<string, TrackedContainer> {
  const tracked = context.containers[containerId]!;
  return { ...context.containers, [containerId]: { ...tracked, restartPending: true } };
}

/** Applies a decision on claims: the new bookkeeping, and each answer to its container. */
function applyClaimResult(
  context: HostContext,
  result: ClaimResult,
  enqueue: {
    assign: (values: Partial<HostContext>) => void;
    sendTo: (ref: ContainerActorRef, event: ClaimAnswerEvent) => void;
  },
): void {
  const { ttyTable, hostPorts, diedByList, deferredClaims } = result.state;
  enqueue.assign({ ttyTable, hostPorts, diedByList, deferredClaims });
  for (const { containerId, ...answer } of result.answers) {
    const tracked = context.containers[containerId];
    if (tracked !== undefined) enqueue.sendTo(tracked.ref, answer);
  }
}

type ClaimAnswerEvent =
  { type: 'resources.granted'; tty: number } | { type: 'resources.denied'; reason: string };

/** Replies go to the API server while it runs; once it has stopped, it has answered its requests itself. */
function apiServerOf(self: { getSnapshot(): { children: Record<string, unknown> } }) {
  return self.getSnapshot().children['apiServer'] as AnyActorRef | undefined;
}

const reportEngineLost = {
  type: 'reportError',
  params: ({ event }: { event: { reason: string } }) => ({
    message: `the Docker engine is unreachable: ${event.reason}`,
  }),
} as const;

export const hostMachine = setup({
  types: {
    context: {} as HostContext,
    events: {} as HostEvent,
    input: {} as HostInput,
    output: {} as HostOutput,
  },
  actors: {
    container: containerMachine,
    /** Root check, folders, reconciliation with what a previous run left. */
    prepareHost: fromPromise<{ folders: FolderRecord[] }, void>(notProvided('prepareHost')),
    handshake: fromPromise<{ authToken: string }, void>(notProvided('handshake')),
    dockerEvents: fromEventObservable<DockerObservation, void>(
      notProvided('dockerEvents') as () => Observable<DockerObservation>,
    ),
    /** The HTTPS API: sends `api.request` events up, receives `api.reply` events. */
    apiServer: fromCallback<ApiReply & EventObject, void>(notProvided('apiServer')),
    heartbeats: fromCallback<EventObject, { authToken: string }>(notProvided('heartbeats')),
    /** At stop: the ids of the running containers, within a short deadline. */
    listRunningContainers: fromPromise<RunningContainers, void>(notProvided('listRunningContainers')),
    /** Production starts the ECS agent once the webserver knows the host; elsewhere there is none. */
    startEcsAgent: fromPromise<void, void>(async () => {}),
  },
  actions: {
    reportError: (_, _params: { message: string }) => {},
    logStep: (_, _params: { message: string }) => {},
    logWarning: (_, _params: { message: string }) => {},

    trackStart: enqueueActions(
      ({ context, enqueue }, event: Extract<HostEvent, { type: 'docker.start' }>) => {
        if (event.name === ECS_AGENT_NAME) return;
        const tracked = context.containers[event.containerId];
        if (tracked === undefined) {
          enqueue.assign({
            containers: ({ context, spawn }) =>
              withContainerSpawned(context, event.containerId, (o) => spawn('container', o)),
          });
          enqueue.assign({ adoptable: ({ context }) => withoutAdoptable(context, event.containerId) });
        } else if (tracked.draining) {
          enqueue.assign({ containers: withRestartPending(context, event.containerId) });
        }
        // Otherwise a replayed or re-listed start of a container we already follow.
      },
    ),
    trackDeath: enqueueActions(({ context, enqueue }, event: Extract<HostEvent, { type: 'docker.die' }>) => {
      const tracked = context.containers[event.containerId];
      if (tracked === undefined) return;
      enqueue.sendTo(tracked.ref, { type: 'container.died', timeNano: event.timeNano });
    }),
    /**
     * A re-list is a newer observation than any start it finds missing only if
     * the container started before the list was asked for (same host clock).
     */
    reconcileWithList: enqueueActions(
      ({ context, enqueue }, event: Extract<HostEvent, { type: 'docker.listed' }>) => {
        const decision = decideRelist(context.containers, context.adoptable, event.running, event.listedAtMs);
        // Every folder of an earlier run becomes an actor now: inspection tells it to resume or to clean up.
        for (const containerId of decision.spawn) {
          enqueue.assign({
            containers: ({ context, spawn }) =>
              withContainerSpawned(context, containerId, (o) => spawn('container', o)),
          });
        }
        enqueue.assign({ adoptable: {} });
        for (const containerId of decision.died) {
          enqueue.sendTo(context.containers[containerId]!.ref, {
            type: 'container.died',
            timeNano: timeNanoOf(event.listedAtMs),
          });
        }
        // What these hold comes back soon: claims wait for it rather than take higher numbers.
        const died = [...decision.adoptedButGone, ...decision.died];
        enqueue.assign({ diedByList: ({ context }) => markDiedByList(context, died).diedByList });
      },
    ),
    /** Reserves what the folders of an earlier run hold (./reconciliation.ts). */
    reserveAdoptedResources: assign(({ context }, params: { folders: FolderRecord[] }) =>
      reserveFolders(context.ttyTable, context.hostPorts, params.folders),
    ),
    grantResources: enqueueActions(
      ({ context, enqueue }, event: Extract<HostEvent, { type: 'resources.claim' }>) => {
        const tracked = context.containers[event.containerId];
        if (tracked === undefined) return;
        enqueue.assign({
          containers: {
            ...context.containers,
            [event.containerId]: { ...tracked, startedAtMs: event.startedAtMs },
          },
        });
        const claim = { containerId: event.containerId, hostPort: event.hostPort };
        applyClaimResult(context, claimResources(context, claim), enqueue);
      },
    ),
    /**
     * Draining from its `container.draining` until it gives its resources
     * back; then it is removed at once, or parked as rejected holding nothing.
     */
    markDraining: assign(
      ({ context }, event: Extract<HostEvent, { type: 'container.draining' | 'resources.release' }>) => {
        const tracked = context.containers[event.containerId];
        if (tracked === undefined) return {};
        const draining = event.type === 'container.draining';
        return { containers: { ...context.containers, [event.containerId]: { ...tracked, draining } } };
      },
    ),
    releaseResources: enqueueActions(
      ({ context, enqueue }, event: Extract<HostEvent, { type: 'resources.release' }>) => {
        applyClaimResult(context, releaseResources(context, event.containerId), enqueue);
      },
    ),
    forgetContainer: enqueueActions(
      (
        { context, enqueue },
        event: Extract<HostEvent, { type: 'container.removed' | 'container.detached' }>,
      ) => {
        const tracked = context.containers[event.containerId];
        if (tracked === undefined) return;
        // It holds nothing by now; a claim of its own that still waited, or a mark of a list, goes with it.
        // A detached container still holds its TTY and host port (the service is stopping): nothing goes back.
        if (event.type === 'container.removed') {
          applyClaimResult(context, releaseResources(context, event.containerId), enqueue);
        }
        enqueue.stopChild(tracked.ref);
        const { [event.containerId]: _gone, ...rest } = context.containers;
        enqueue.assign({ containers: rest });
        if (tracked.restartPending) {
          enqueue.assign({
            containers: ({ context, spawn }) =>
              withContainerSpawned(context, event.containerId, (o) => spawn('container', o)),
          });
        }
      },
    ),
    routeRequest: enqueueActions(
      ({ context, enqueue, self }, event: Extract<HostEvent, { type: 'api.request' }>) => {
        const target = containerForHostPort(context, event.request.hostPort);
        if (target?.acceptsRequests) {
          enqueue.sendTo(target.ref, toContainerEvent(event.requestId, event.request));
          return;
        }
        // The engine's start may not have been handled yet: wait for it, bounded.
        const delay = nextRequestWait(requestWaitFacts(context, self), 0) ?? 0;
        enqueue.assign({
          pendingRequests: {
            ...context.pendingRequests,
            [event.requestId]: { requestId: event.requestId, request: event.request, waitedMs: delay },
          },
        });
        enqueue.raise(
          { type: 'api.request.expired', requestId: event.requestId },
          { id: pendingTimerId(event.requestId), delay },
        );
      },
    ),
    expireRequest: enqueueActions(
      ({ context, enqueue, self }, event: Extract<HostEvent, { type: 'api.request.expired' }>) => {
        const pending = context.pendingRequests[event.requestId];
        if (pending === undefined) return;
        const more = nextRequestWait(requestWaitFacts(context, self), pending.waitedMs);
        if (more !== undefined) {
          enqueue.assign({
            pendingRequests: {
              ...context.pendingRequests,
              [event.requestId]: { ...pending, waitedMs: pending.waitedMs + more },
            },
          });
          enqueue.raise(
            { type: 'api.request.expired', requestId: event.requestId },
            { id: pendingTimerId(event.requestId), delay: more },
          );
          return;
        }
        const { [event.requestId]: _expired, ...rest } = context.pendingRequests;
        enqueue.assign({ pendingRequests: rest });
        const api = apiServerOf(self);
        if (api === undefined) return;
        enqueue.sendTo(api, {
          type: 'api.reply',
          requestId: event.requestId,
          status: 406,
          error: `no container with host port ${pending.request.hostPort} after waiting ${pending.waitedMs} ms`,
        });
      },
    ),
    acceptRequests: enqueueActions(
      ({ context, enqueue }, event: Extract<HostEvent, { type: 'container.acceptingRequests' }>) => {
        const tracked = context.containers[event.containerId];
        if (tracked === undefined) return;
        enqueue.assign({
          containers: { ...context.containers, [event.containerId]: { ...tracked, acceptsRequests: true } },
        });
        const waiting = Object.values(context.pendingRequests).filter(
          (p) => p.request.hostPort === event.hostPort,
        );
        if (waiting.length === 0) return;
        const pendingRequests = { ...context.pendingRequests };
        for (const { requestId, request } of waiting) {
          delete pendingRequests[requestId];
          enqueue.cancel(pendingTimerId(requestId));
          enqueue.sendTo(tracked.ref, toContainerEvent(requestId, request));
        }
        enqueue.assign({ pendingRequests });
      },
    ),
    relayReply: enqueueActions(({ enqueue, self }, event: Extract<HostEvent, { type: 'api.reply' }>) => {
      const api = apiServerOf(self);
      if (api !== undefined) enqueue.sendTo(api, event);
    }),
    answerPendingRequests: enqueueActions(({ context, enqueue, self }) => {
      const api = apiServerOf(self);
      for (const { requestId } of Object.values(context.pendingRequests)) {
        enqueue.cancel(pendingTimerId(requestId));
        if (api !== undefined) {
          enqueue.sendTo(api, {
            type: 'api.reply',
            requestId,
            status: 406,
            error: 'the host service is shutting down',
          });
        }
      }
      enqueue.assign({ pendingRequests: {} });
    }),
    /**
     * At stop: a container the engine listed as running (or every one, when
     * the engine did not answer) is let go with everything it holds; one that
     * is not running any more and started before the list was asked for is
     * drained as dead.
     */
    letGoOfContainers: enqueueActions(
      ({ context, enqueue }, params: { running: string[] | undefined; listedAtMs: number }) => {
        const decision = decideStop(context.containers, params.running, params.listedAtMs);
        for (const id of decision.leaving)
          enqueue.sendTo(context.containers[id]!.ref, { type: 'host.leaving' });
        for (const id of decision.dead) {
          enqueue.sendTo(context.containers[id]!.ref, {
            type: 'container.died',
            timeNano: timeNanoOf(params.listedAtMs),
          });
        }
      },
    ),
  },
  guards: {
    noContainersLeft: ({ context }) => Object.keys(context.containers).length === 0,
  },
  delays: {
    drainTimeout: ({ context }) => context.drainTimeoutMs,
    handshakeTimeout: ({ context }) => context.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS,
    handshakeBackoff: ({ context }) =>
      Math.min(
        (context.handshakeRetryMs ?? DEFAULT_HANDSHAKE_RETRY_MS) *
          2 ** Math.max(0, context.handshakeFailures - 1),
        MAX_HANDSHAKE_RETRY_MS,
      ),
  },
}).createMachine({
  id: 'host',
  context: ({ input }) => ({
    ...input,
    ttyTable: createTtyTable(input.ttyCount),
    hostPorts: {},
    containers: {},
    pendingRequests: {},
    adoptable: {},
    diedByList: {},
    deferredClaims: [],
    authToken: undefined,
    stopReason: undefined,
    handshakeFailures: 0,
    lastHandshakeError: undefined,
  }),
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
    'container.removed': { actions: { type: 'forgetContainer', params: ({ event }) => event } },
    'container.detached': { actions: { type: 'forgetContainer', params: ({ event }) => event } },
    'container.draining': { actions: { type: 'markDraining', params: ({ event }) => event } },
    'api.reply': { actions: { type: 'relayReply', params: ({ event }) => event } },
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
    // No container is accepted before the webserver knows this host: serving comes after.
    handshaking: {
      initial: 'attempting',
      after: {
        handshakeTimeout: {
          target: 'stopping',
          actions: assign({
            stopReason: ({ context }) => ({
              fatal: true,
              message: `handshake failed ${context.handshakeFailures} times, giving up: ${context.lastHandshakeError ?? 'no answer'}`,
            }),
          }),
        },
      },
      states: {
        attempting: {
          invoke: {
            src: 'handshake',
            onDone: {
              target: '#host.startingAgent',
              actions: assign({ authToken: ({ event }) => event.output.authToken }),
            },
            onError: {
              target: 'waiting',
              actions: [
                assign({
                  handshakeFailures: ({ context }) => context.handshakeFailures + 1,
                  lastHandshakeError: ({ event }) => errorMessage(event.error),
                }),
                {
                  type: 'logWarning',
                  params: ({ context }) => ({
                    message: `handshake attempt ${context.handshakeFailures} failed, retrying: ${context.lastHandshakeError}`,
                  }),
                },
              ],
            },
          },
        },
        waiting: { after: { handshakeBackoff: 'attempting' } },
      },
    },
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
    serving: {
      type: 'parallel',
      on: {
        'docker.start': { actions: { type: 'trackStart', params: ({ event }) => event } },
        'docker.die': { actions: { type: 'trackDeath', params: ({ event }) => event } },
        'docker.listed': { actions: { type: 'reconcileWithList', params: ({ event }) => event } },
        'resources.claim': { actions: { type: 'grantResources', params: ({ event }) => event } },
        'api.request': { actions: { type: 'routeRequest', params: ({ event }) => event } },
        'api.request.expired': { actions: { type: 'expireRequest', params: ({ event }) => event } },
        'container.acceptingRequests': { actions: { type: 'acceptRequests', params: ({ event }) => event } },
      },
      states: {
        engine: {
          invoke: { id: 'dockerEvents', src: 'dockerEvents' },
          initial: 'connecting',
          states: {
            connecting: {
              on: { 'docker.disconnected': { target: 'disconnected', actions: reportEngineLost } },
            },
            connected: {
              on: { 'docker.disconnected': { target: 'disconnected', actions: reportEngineLost } },
            },
            // Reported once when lost; each further failed attempt is only logged.
            disconnected: {
              on: {
                'docker.disconnected': {
                  actions: {
                    type: 'logStep',
                    params: ({ event }) => ({ message: `engine still unreachable: ${event.reason}` }),
                  },
                },
              },
            },
          },
          on: {
            'docker.connected': {
              target: '.connected',
              actions: { type: 'logStep', params: { message: 'engine connected' } },
            },
          },
        },
        api: {
          initial: 'listening',
          states: { listening: { invoke: { id: 'apiServer', src: 'apiServer' } } },
        },
        heartbeats: {
          initial: 'beating',
          states: {
            beating: {
              invoke: {
                id: 'heartbeats',
                src: 'heartbeats',
                input: ({ context }) => ({ authToken: context.authToken! }),
              },
            },
          },
        },
      },
    },
    stopping: {
      entry: 'answerPendingRequests',
      initial: 'askingEngine',
      states: {
        askingEngine: {
          always: { guard: 'noContainersLeft', target: '#host.stopped' },
          invoke: {
            src: 'listRunningContainers',
            onDone: {
              target: 'lettingGo',
              actions: {
                type: 'letGoOfContainers',
                params: ({ event }) => ({
                  running: event.output.running,
                  listedAtMs: event.output.listedAtMs,
                }),
              },
            },
            onError: {
              target: 'lettingGo',
              actions: [
                {
                  type: 'logWarning',
                  params: ({ event }) => ({
                    message: `the engine did not say which containers run (${errorMessage(event.error)}); every folder, TTY and mount is kept`,
                  }),
                },
                { type: 'letGoOfContainers', params: { running: undefined, listedAtMs: 0 } },
              ],
            },
          },
        },
        // Running ones detach at once (after a write in flight); dead ones drain.
        lettingGo: {
          always: { guard: 'noContainersLeft', target: '#host.stopped' },
        },
      },
      after: {
        drainTimeout: {
          target: 'stopped',
          actions: {
            type: 'reportError',
            params: ({ context }) => ({
              message: `draining timed out with ${Object.keys(context.containers).length} containers left`,
            }),
          },
        },
      },
    },
    stopped: { type: 'final' },
  },
  output: ({ context }) => ({
    stopReason: context.stopReason ?? { fatal: false, message: 'stopped' },
    leftoverContainers: Object.keys(context.containers),
  }),
});

export type HostActorRef = ActorRefFrom<typeof hostMachine>;

/** What the host's context says, for people and scripts (the state snapshot). */
export function hostFacts(context: HostContext) {
  return {
    ttysInUse: ttysInUse(context.ttyTable),
    /** Numbers that may be handed out: the TTY count less the ones reserved for the host. */
    ttysAssignable: context.ttyTable.size - context.ttyTable.firstAssignable,
    pendingRequests: Object.keys(context.pendingRequests).length,
    containers: Object.fromEntries(Object.entries(context.containers).map(([id, c]) => [id, c.ref])),
  };
}
export { ttysInUse };

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
