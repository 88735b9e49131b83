/**
 * How the host's context follows its container actors: pure helpers that the
 * actions of ./setup.ts use to compute what they assign and whom they answer.
 */
import type { ContainerActorRef } from '../container/machine.js';
import type { FolderRecord } from '../events.js';
import { withEntry, withoutKey } from '../shared.js';
import type { ClaimResult } from './resourceClaims.js';
import type { RequestWaitFacts } from './routing.js';
import type { HostContext, TrackedContainer } from './types.js';

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

/** `containers` with what the host knows of one tracked container changed. */
export function withTrackedChange(
  context: HostContext,
  containerId: string,
  change: Partial<Omit<TrackedContainer, 'ref'>>,
): ReadonlyMap<string, TrackedContainer> {
  const tracked = context.containers.get(containerId);
  if (tracked === undefined) return context.containers;
  return withEntry(context.containers, containerId, { ...tracked, ...change });
}

/**
 * Applies a decision on claims: the new bookkeeping, and each answer to its
 * container. `alongside` is assigned in the same step: every assign clones
 * the snapshot and computes its state value again.
 */
export function applyClaimResult(
  context: HostContext,
  result: ClaimResult,
  enqueue: {
    assign: (values: Partial<HostContext>) => void;
    sendTo: (ref: ContainerActorRef, event: ClaimAnswerEvent) => void;
  },
  alongside: Partial<HostContext> = {},
): void {
  const { ttyTable, hostPorts, diedByList, deferredClaims } = result.state;
  const changed =
    ttyTable !== context.ttyTable ||
    hostPorts !== context.hostPorts ||
    diedByList !== context.diedByList ||
    deferredClaims !== context.deferredClaims;
  if (changed) enqueue.assign({ ...alongside, ttyTable, hostPorts, diedByList, deferredClaims });
  else if (Object.keys(alongside).length > 0) enqueue.assign(alongside);
  for (const { containerId, ...answer } of result.answers) {
    const tracked = context.containers.get(containerId);
    if (tracked !== undefined) enqueue.sendTo(tracked.ref, answer);
  }
}

type ClaimAnswerEvent =
  { type: 'resources.granted'; tty: number } | { type: 'resources.denied'; reason: string };
