/**
 * What the host machine (./machine.ts) is made of: the placeholders that src/
 * supplies (`hostMachineWith`), its actions, guards and delays, and the
 * context it starts with. The states that use them, and what each state
 * means, are in ./machine.ts; the pure decisions the actions apply are in
 * ./tracking.ts, ./resourceClaims.ts, ./reconciliation.ts and ./routing.ts.
 */
import {
  assign,
  enqueueActions,
  fromCallback,
  fromEventObservable,
  fromPromise,
  setup,
  type EventObject,
} from 'xstate';
import type { Observable } from 'rxjs';
import { containerMachine, type ContainerOutput } from '../container/machine.js';
import {
  ECS_AGENT_NAME,
  timeNanoToMs,
  type ApiReply,
  type DockerObservation,
  type FolderRecord,
} from '../events.js';
import { enqueueApiReply, notProvided, withEntry, withoutKey } from '../shared.js';
import {
  claimResources,
  isGranted,
  markDiedByList,
  releaseResources,
  supersededHolder,
} from './resourceClaims.js';
import { withDeathSeen } from './deathsSeen.js';
import { deathsAfter, decideRelist, decideStop, reserveFolders, timeNanoOf } from './reconciliation.js';
import { nextRequestWait, pendingTimerId, toContainerEvent } from './routing.js';
import {
  applyClaimResult,
  containerForHostPort,
  isCurrentDeath,
  requestWaitFacts,
  withContainerSpawned,
  withDraining,
  withoutAdoptable,
  withTrackedChange,
} from './tracking.js';
import { createTtyTable } from './ttyTable.js';
import type { HostContext, HostEvent, HostInput, HostOutput, RunningContainers } from './types.js';

const DEFAULT_HANDSHAKE_TIMEOUT_MS = 120_000;
const DEFAULT_HANDSHAKE_RETRY_MS = 1000;
const MAX_HANDSHAKE_RETRY_MS = 30_000;
/** How XState names a child's done event: this, then the child's id (a container's is its container id). */
const DONE_ACTOR_PREFIX = 'xstate.done.actor.';

export const hostSetup = setup({
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
        const tracked = context.containers.get(event.containerId);
        if (tracked === undefined) {
          // One assign: each clones the snapshot and computes its state value again.
          enqueue.assign({
            containers: ({ context, spawn }) =>
              withContainerSpawned(context, event.containerId, (o) => spawn('container', o)),
            adoptable: ({ context }) => withoutAdoptable(context, event.containerId),
          });
        } else if (tracked.draining) {
          enqueue.assign({
            containers: withTrackedChange(context, event.containerId, { restartPending: true }),
          });
        }
        // Otherwise a replayed or re-listed start of a container we already follow.
      },
    ),
    trackDeath: enqueueActions(({ context, enqueue }, event: Extract<HostEvent, { type: 'docker.die' }>) => {
      const deathsSeen = withDeathSeen(context.deathsSeen, event.containerId, timeNanoToMs(event.timeNano));
      const tracked = context.containers.get(event.containerId);
      if (tracked === undefined || !isCurrentDeath(tracked, event.timeNano)) {
        enqueue.assign({ deathsSeen });
        return;
      }
      enqueue.assign({ deathsSeen, containers: withDraining(context.containers, [event.containerId]) });
      enqueue.sendTo(tracked.ref, { type: 'container.died', timeNano: event.timeNano });
    }),
    /**
     * A re-list is a newer observation than any start it finds missing only if
     * the container started before the list was asked for (same host clock).
     */
    reconcileWithList: enqueueActions(
      ({ context, enqueue }, event: Extract<HostEvent, { type: 'docker.listed' }>) => {
        const decision = decideRelist(
          context.containers,
          context.adoptable,
          event.running,
          event.listedAtMs,
          context.deathsSeen,
        );
        enqueue.assign({ deathsSeen: deathsAfter(context.deathsSeen, event.listedAtMs) });
        // Every folder of an earlier run becomes an actor now: inspection tells it to resume or to clean up.
        for (const containerId of decision.spawn) {
          enqueue.assign({
            containers: ({ context, spawn }) =>
              withContainerSpawned(context, containerId, (o) => spawn('container', o)),
          });
        }
        enqueue.assign({ adoptable: new Map() });
        for (const containerId of decision.died) {
          enqueue.sendTo(context.containers.get(containerId)!.ref, {
            type: 'container.died',
            timeNano: timeNanoOf(event.listedAtMs),
          });
        }
        // What these hold comes back soon: claims wait for it rather than take higher numbers.
        const died = [...decision.adoptedButGone, ...decision.died];
        enqueue.assign({
          diedByList: ({ context }) => markDiedByList(context, died).diedByList,
          containers: ({ context }) => withDraining(context.containers, decision.died),
        });
      },
    ),
    /** Reserves what the folders of an earlier run hold (./reconciliation.ts). */
    reserveAdoptedResources: assign(({ context }, params: { folders: FolderRecord[] }) =>
      reserveFolders(context.ttyTable, context.hostPorts, params.folders),
    ),
    /**
     * A container's inspection, heard before the container hears it: the
     * verdict goes on to it (`inspection.done`), and for a ready one with the
     * answer to its claim, decided in this step. One that is draining (it died
     * while it was inspected) claims nothing; it ignores the verdict.
     */
    answerInspection: enqueueActions(
      ({ context, enqueue }, event: Extract<HostEvent, { type: 'container.inspected' }>) => {
        const { containerId, verdict } = event;
        const tracked = context.containers.get(containerId);
        if (tracked === undefined) return;
        if (verdict.kind !== 'ready' || tracked.draining) {
          enqueue.sendTo(tracked.ref, { type: 'inspection.done', verdict });
          return;
        }
        const claim = { containerId, hostPort: verdict.hostPort };
        const superseded = supersededHolder(
          context,
          claim,
          verdict.startedAtMs,
          (id) => context.containers.get(id)?.startedAtMs,
        );
        const claimState = superseded === undefined ? context : markDiedByList(context, [superseded]);
        const result = claimResources(claimState, claim);
        // Its start and its grant in one copy of `containers` (applyClaimResult then finds nothing to change).
        const { startedAtMs } = verdict;
        let containers = withTrackedChange(
          context,
          containerId,
          isGranted(result, containerId) ? { startedAtMs, acceptsRequests: true } : { startedAtMs },
        );
        if (superseded !== undefined) {
          // Dead as surely as by a list: it drains, and the claim waits for the port it gives back.
          containers = withDraining(containers, [superseded]);
          enqueue.sendTo(context.containers.get(superseded)!.ref, {
            type: 'container.died',
            timeNano: timeNanoOf(verdict.startedAtMs),
          });
        }
        applyClaimResult(context, result, enqueue, { containers, inspected: event });
      },
    ),
    /** While stopping, a verdict goes on without a claim: the container waits for its `host.leaving` or death. */
    forwardVerdict: enqueueActions(
      ({ context, enqueue }, event: Extract<HostEvent, { type: 'container.inspected' }>) => {
        const tracked = context.containers.get(event.containerId);
        if (tracked !== undefined)
          enqueue.sendTo(tracked.ref, { type: 'inspection.done', verdict: event.verdict });
      },
    ),
    /**
     * Draining from its `container.draining` (a death the host sent marked it
     * already) until it gives its resources back; then it is removed at once,
     * or parked as rejected holding nothing.
     */
    markDraining: assign(
      ({ context }, event: Extract<HostEvent, { type: 'container.draining' | 'resources.release' }>) => {
        const tracked = context.containers.get(event.containerId);
        const draining = event.type === 'container.draining';
        if (tracked === undefined || tracked.draining === draining) return {};
        return { containers: withTrackedChange(context, event.containerId, { draining }) };
      },
    ),
    releaseResources: enqueueActions(
      ({ context, enqueue }, event: Extract<HostEvent, { type: 'resources.release' }>) => {
        applyClaimResult(context, releaseResources(context, event.containerId), enqueue);
      },
    ),
    forgetContainer: enqueueActions(({ context, enqueue }, ended: ContainerOutput) => {
      const tracked = context.containers.get(ended.containerId);
      if (tracked === undefined) return;
      // Its folder is gone: its TTY and host port go back (a drained one's come with this event), and a
      // claim of its own that still waited, or a mark of a list, goes with them. A detached container
      // keeps its TTY and host port (the service is stopping): nothing goes back.
      const containers = withoutKey(context.containers, ended.containerId);
      if (ended.end === 'removed') {
        applyClaimResult(context, releaseResources(context, ended.containerId), enqueue, {
          containers,
        });
      } else {
        enqueue.assign({ containers });
      }
      enqueue.stopChild(tracked.ref);
      if (tracked.restartPending) {
        enqueue.assign({
          containers: ({ context, spawn }) =>
            withContainerSpawned(context, ended.containerId, (o) => spawn('container', o)),
        });
      }
    }),
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
          pendingRequests: withEntry(context.pendingRequests, event.requestId, {
            requestId: event.requestId,
            request: event.request,
            waitedMs: delay,
          }),
        });
        enqueue.raise(
          { type: 'api.request.expired', requestId: event.requestId },
          { id: pendingTimerId(event.requestId), delay },
        );
      },
    ),
    expireRequest: enqueueActions(
      ({ context, enqueue, self, system }, event: Extract<HostEvent, { type: 'api.request.expired' }>) => {
        const pending = context.pendingRequests.get(event.requestId);
        if (pending === undefined) return;
        const more = nextRequestWait(requestWaitFacts(context, self), pending.waitedMs);
        if (more !== undefined) {
          enqueue.assign({
            pendingRequests: withEntry(context.pendingRequests, event.requestId, {
              ...pending,
              waitedMs: pending.waitedMs + more,
            }),
          });
          enqueue.raise(
            { type: 'api.request.expired', requestId: event.requestId },
            { id: pendingTimerId(event.requestId), delay: more },
          );
          return;
        }
        enqueue.assign({ pendingRequests: withoutKey(context.pendingRequests, event.requestId) });
        enqueueApiReply(enqueue, system, {
          requestId: event.requestId,
          status: 406,
          error: `no container with host port ${pending.request.hostPort} after waiting ${pending.waitedMs} ms`,
        });
      },
    ),
    answerPendingRequests: enqueueActions(({ context, enqueue, system }) => {
      for (const requestId of context.pendingRequests.keys()) {
        enqueue.cancel(pendingTimerId(requestId));
        enqueueApiReply(enqueue, system, {
          requestId,
          status: 406,
          error: 'the host service is shutting down',
        });
      }
      enqueue.assign({ pendingRequests: new Map() });
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
        if (decision.dead.length > 0) {
          enqueue.assign({ containers: withDraining(context.containers, decision.dead) });
        }
        for (const id of decision.leaving)
          enqueue.sendTo(context.containers.get(id)!.ref, { type: 'host.leaving' });
        for (const id of decision.dead) {
          enqueue.sendTo(context.containers.get(id)!.ref, {
            type: 'container.died',
            timeNano: timeNanoOf(params.listedAtMs),
          });
        }
      },
    ),
  },
  guards: {
    noContainersLeft: ({ context }) => context.containers.size === 0,
    /** The done event of a container actor (named by its container id), not of one of the host's invoked actors. */
    isContainerEnd: (_, event: { type: string; output?: unknown }) => {
      const containerId = (event.output as Partial<ContainerOutput> | undefined)?.containerId;
      return containerId !== undefined && event.type === `${DONE_ACTOR_PREFIX}${containerId}`;
    },
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
});

type HostConfig = Parameters<typeof hostSetup.createMachine>[0];

export const hostContext: HostConfig['context'] = ({ input }) => ({
  ...input,
  ttyTable: createTtyTable(input.ttyCount),
  hostPorts: new Map(),
  containers: new Map(),
  pendingRequests: new Map(),
  adoptable: new Map(),
  deathsSeen: undefined,
  diedByList: new Set(),
  deferredClaims: [],
  authToken: undefined,
  stopReason: undefined,
  handshakeFailures: 0,
  lastHandshakeError: undefined,
});
