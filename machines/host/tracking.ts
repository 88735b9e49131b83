/**
 * How the host's context follows its container actors: pure helpers that the
 * actions of ./setup.ts use to compute what they assign and whom they answer.
 */
import type {
  ClaimAnswer,
  ContainerActorRef,
  ContainerEvent,
  InspectionVerdict,
} from '../container/machine.js';
import { timeNanoToMs, type FolderRecord } from '../events.js';
import { withEntry, withoutKey } from '../shared.js';
import { isGranted, type ClaimResult } from './resourceClaims.js';
import { pendingTimerId, toContainerEvent, type RequestWaitFacts } from './routing.js';
import type { HostContext, PendingRequest, TrackedContainer } from './types.js';

export function containerForHostPort(context: HostContext, hostPort: number): TrackedContainer | undefined {
  const id = context.hostPorts.get(hostPort);
  return id === undefined ? undefined : context.containers.get(id);
}

type HostSelf = { getSnapshot(): { matches(value: unknown): boolean } };

/** What the request wait depends on (./routing.ts), read from the host's own state. */
export function requestWaitFacts(context: HostContext, self: HostSelf): RequestWaitFacts {
  return {
    requestWaitMs: context.requestWaitMs,
    connectedRequestWaitMs: context.connectedRequestWaitMs,
    engineConnected: self.getSnapshot().matches({ serving: { engine: 'connected' } }),
    containerSettingUp: [...context.containers.values()].some((c) => !c.acceptsRequests && !c.draining),
  };
}

function newTracked(ref: ContainerActorRef): TrackedContainer {
  return { ref, acceptsRequests: false, startedAtMs: undefined, draining: false, restartPending: false };
}

function containerInput(context: HostContext, containerId: string) {
  return {
    containerId,
    dpiTimeoutMs: context.dpiTimeoutMs,
    adopted: context.adoptable.get(containerId),
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
export function withContainerSpawned(
  context: HostContext,
  containerId: string,
  spawn: (options: ContainerSpawnOptions) => ContainerActorRef,
): ReadonlyMap<string, TrackedContainer> {
  const ref = spawn({ id: containerId, input: containerInput(context, containerId) });
  return withEntry(context.containers, containerId, newTracked(ref));
}

export function withoutAdoptable(
  context: HostContext,
  containerId: string,
): ReadonlyMap<string, FolderRecord> {
  return withoutKey(context.adoptable, containerId);
}

/** A die older than the start its inspection found belongs to an earlier life of the same id (engine clock). */
export function isCurrentDeath(tracked: TrackedContainer, timeNano: string): boolean {
  return tracked.startedAtMs === undefined || timeNanoToMs(timeNano) >= tracked.startedAtMs;
}

/**
 * `containers` with each of `containerIds` marked draining: the host marks a
 * container when it sends it its death, and the container drains without a
 * word back (machines/container/setup.ts, `announceDraining`).
 */
export function withDraining(
  containers: ReadonlyMap<string, TrackedContainer>,
  containerIds: readonly string[],
): ReadonlyMap<string, TrackedContainer> {
  let marked = containers;
  for (const containerId of containerIds) {
    if (marked.get(containerId)?.draining === false) {
      marked = withTrackedChangeIn(marked, containerId, { draining: true });
    }
  }
  return marked;
}

/** `containers` with what the host knows of one tracked container changed. */
export function withTrackedChange(
  context: HostContext,
  containerId: string,
  change: Partial<Omit<TrackedContainer, 'ref'>>,
): ReadonlyMap<string, TrackedContainer> {
  return withTrackedChangeIn(context.containers, containerId, change);
}

function withTrackedChangeIn(
  containers: ReadonlyMap<string, TrackedContainer>,
  containerId: string,
  change: Partial<Omit<TrackedContainer, 'ref'>>,
): ReadonlyMap<string, TrackedContainer> {
  const tracked = containers.get(containerId);
  if (tracked === undefined || changesNothing(tracked, change)) return containers;
  return withEntry(containers, containerId, { ...tracked, ...change });
}

/** Whether every field of `change` already holds its value: then there is nothing to copy. */
function changesNothing(tracked: TrackedContainer, change: Partial<Omit<TrackedContainer, 'ref'>>): boolean {
  for (const key in change) {
    const field = key as keyof typeof change;
    if (tracked[field] !== change[field]) return false;
  }
  return true;
}

/**
 * Applies a decision on claims: the new bookkeeping, and each answer to its
 * container. A container granted its TTY and host port takes the requests for
 * that port from then on, those already waiting for it included: it holds
 * them until its folder is complete (machines/container/requested.ts), so the
 * host needs no word from it that it is ready.
 *
 * `containers`, when given, is what the step made of them before the claims
 * were decided, assigned with the rest: every assign clones the snapshot.
 * `inspected`: the claim came with this inspection's verdict, which goes on to
 * its container with the answer, or without one when the claim waits.
 */
export function applyClaimResult(
  context: HostContext,
  result: ClaimResult,
  enqueue: {
    assign: (values: Partial<HostContext>) => void;
    sendTo: (
      ref: ContainerActorRef,
      event: ClaimAnswer | InspectionDone | ReturnType<typeof toContainerEvent>,
    ) => void;
    cancel: (id: string) => void;
  },
  options: {
    containers?: HostContext['containers'];
    inspected?: { containerId: string; verdict: InspectionVerdict };
  } = {},
): void {
  const { inspected } = options;
  const { ttyTable, hostPorts, diedByList, deferredClaims } = result.state;
  const { answers } = result;
  // Loops by index and no Set of the granted: at --max-opt=1 (V8's lower tiers, where a host's lifecycle
  // runs), a Set, its iterator, each answer's rest copy and default objects were ~2 kB a call.
  let containers = options.containers ?? context.containers;
  for (let i = 0; i < answers.length; i++) {
    const answer = answers[i]!;
    if (answer.type === 'resources.granted') {
      containers = withTrackedChangeIn(containers, answer.containerId, { acceptsRequests: true });
    }
  }
  const delivered: { pending: PendingRequest; to: ContainerActorRef }[] = [];
  let pendingRequests = context.pendingRequests;
  if (pendingRequests.size > 0 && answers.length > 0) {
    for (const pending of context.pendingRequests.values()) {
      const holder = hostPorts.get(pending.request.hostPort);
      const to =
        holder !== undefined && isGranted(result, holder) ? context.containers.get(holder)?.ref : undefined;
      if (to === undefined) continue;
      delivered.push({ pending, to });
      pendingRequests = withoutKey(pendingRequests, pending.requestId);
    }
  }
  const changed =
    containers !== context.containers ||
    pendingRequests !== context.pendingRequests ||
    ttyTable !== context.ttyTable ||
    hostPorts !== context.hostPorts ||
    diedByList !== context.diedByList ||
    deferredClaims !== context.deferredClaims;
  // One literal, whatever changed: a field assigned its own value stays as it was. Nothing spread
  // into it: an object spread and then given new keys made V8 build hidden classes for it at each
  // call (1.4 kB at --max-opt=1), and one grown key by key (`Object.assign`) about 1 kB.
  if (changed) {
    enqueue.assign({
      containers,
      pendingRequests,
      ttyTable,
      hostPorts,
      diedByList,
      deferredClaims,
    });
  }
  // Each answer goes as it is: its `containerId` rides along, and the container reads only the rest.
  let claim: ClaimAnswer | undefined;
  for (let i = 0; i < answers.length; i++) {
    const answer = answers[i]!;
    if (answer.containerId === inspected?.containerId) {
      claim = answer;
      continue;
    }
    const tracked = context.containers.get(answer.containerId);
    if (tracked !== undefined) enqueue.sendTo(tracked.ref, answer);
  }
  const inspectedRef = inspected && context.containers.get(inspected.containerId)?.ref;
  if (inspected !== undefined && inspectedRef !== undefined) {
    enqueue.sendTo(
      inspectedRef,
      claim === undefined
        ? { type: 'inspection.done', verdict: inspected.verdict }
        : { type: 'inspection.done', verdict: inspected.verdict, claim },
    );
  }
  // After the grant, in the order they came: the container takes them once it holds its TTY.
  for (const { pending, to } of delivered) {
    enqueue.cancel(pendingTimerId(pending.requestId));
    enqueue.sendTo(to, toContainerEvent(pending.requestId, pending.request));
  }
}

type InspectionDone = Extract<ContainerEvent, { type: 'inspection.done' }>;
