/**
 * How the host's context follows its container actors: pure helpers that the
 * actions of ./setup.ts use to compute what they assign and whom they answer.
 */
import type { AnyActorRef } from 'xstate';
import type { ContainerActorRef } from '../container/machine.js';
import type { FolderRecord } from '../events.js';
import type { ClaimResult } from './resourceClaims.js';
import type { RequestWaitFacts } from './routing.js';
import type { HostContext, TrackedContainer } from './types.js';

export function containerForHostPort(context: HostContext, hostPort: number): TrackedContainer | undefined {
  const id = context.hostPorts[hostPort];
  return id === undefined ? undefined : context.containers[id];
}

type HostSelf = { getSnapshot(): { matches(value: unknown): boolean } };

/** What the request wait depends on (./routing.ts), read from the host's own state. */
export function requestWaitFacts(context: HostContext, self: HostSelf): RequestWaitFacts {
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
export function withContainerSpawned(
  context: HostContext,
  containerId: string,
  spawn: (options: ContainerSpawnOptions) => ContainerActorRef,
): Record<string, TrackedContainer> {
  const ref = spawn({ id: containerId, input: containerInput(context, containerId) });
  return { ...context.containers, [containerId]: newTracked(ref) };
}

export function withoutAdoptable(context: HostContext, containerId: string): Record<string, FolderRecord> {
  const { [containerId]: _adopted, ...rest } = context.adoptable;
  return rest;
}

export function withRestartPending(
  context: HostContext,
  containerId: string,
): Record<string, TrackedContainer> {
  const tracked = context.containers[containerId]!;
  return { ...context.containers, [containerId]: { ...tracked, restartPending: true } };
}

/** Applies a decision on claims: the new bookkeeping, and each answer to its container. */
export function applyClaimResult(
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
export function apiServerOf(self: { getSnapshot(): { children: Record<string, unknown> } }) {
  return self.getSnapshot().children['apiServer'] as AnyActorRef | undefined;
}
