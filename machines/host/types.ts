/** What the host actor takes, holds, exchanges and returns. */
import type { ContainerActorRef, ContainerDoneEvent, ContainerToHostEvent } from '../container/machine.js';
import type { ApiRequest, DockerObservation, FolderRecord } from '../events.js';
import type { DeathsSeen } from './deathsSeen.js';
import type { ResourceClaim } from './resourceClaims.js';
import type { TtyTable } from './ttyTable.js';

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

export interface TrackedContainer {
  ref: ContainerActorRef;
  /** Set when it is granted its TTY and host port: requests for that port go to it from then on (it holds them until its folder is complete). */
  acceptsRequests: boolean;
  /** When the engine started it, once its inspection said so (`container.inspected`); engine clock, ms. */
  startedAtMs: number | undefined;
  /** It is cleaning up: the host sent it its death, or it said so (`container.draining`) when it could not be set up. */
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
  // Keyed by ids and ports: Maps, copied on write (machines/shared.ts says why).
  /** Host port to the id of the container that holds it. */
  hostPorts: ReadonlyMap<number, string>;
  containers: ReadonlyMap<string, TrackedContainer>;
  /** Requests waiting for their container's folder to be complete, by request id. */
  pendingRequests: ReadonlyMap<string, PendingRequest>;
  /**
   * Folders an earlier run left, with their TTYs and host ports reserved,
   * until the engine's first list says which containers still run.
   */
  adoptable: ReadonlyMap<string, FolderRecord>;
  /** Deaths that a list in flight may not know of yet; pruned at each list (./reconciliation.ts, deathsAfter). */
  deathsSeen: DeathsSeen;
  /**
   * Containers found dead by the engine's list, or by the engine giving their
   * host port to a container started later, until they give back their TTY
   * and host port.
   */
  diedByList: ReadonlySet<string>;
  /** Claims that wait for one of those (./resourceClaims.ts). */
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
  | ContainerDoneEvent
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
