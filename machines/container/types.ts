/** What a container actor takes, holds and exchanges with its host. */
import type { CloudCredentials, FolderRecord, Sealed } from '../events.js';
import type { MountActorRef, MountToContainerEvent } from '../mount/machine.js';
import type { InspectionVerdict } from './inspection.js';

/**
 * A failed inspection (anything but "no such container") is the engine's
 * trouble, not the container's: an engine that stops with live-restore on,
 * or restarts, comes back with the container still running. So a container
 * is inspected again until the engine answers, its die arrives, or the
 * service stops, never given up: giving up would take the folder of a live
 * (for instance adopted) container, or leave a new one without one for good.
 * The waits double from the base up to the cap, so that one comes back within
 * INSPECTION_RETRY_MAX_MS of the engine. Each failure before the one that
 * makes INSPECTION_FAILURES_REPORTED in a row is logged, that one is
 * reported, and the later ones are only counted.
 */
export const INSPECTION_RETRY_BASE_MS = 250;
export const INSPECTION_RETRY_MAX_MS = 2000;
export const INSPECTION_FAILURES_REPORTED = 4;

/** DPI requests a container holds while it writes; beyond this they get a 406. */
export const MAX_QUEUED_DPI = 8;

export interface QueuedDpi {
  requestId: string;
  dpi: number;
}

export interface ContainerInput {
  containerId: string;
  /** The folder an earlier run of the service left for this container, when adopting it. */
  adopted?: FolderRecord;
  /** How long to wait for the webserver's DPI before reporting it. */
  dpiTimeoutMs: number;
  /** First wait before inspecting again after a failure, doubled each time (default 250 ms). */
  inspectionRetryBaseMs?: number;
  /** The longest wait between inspections (default 2000 ms). */
  inspectionRetryMaxMs?: number;
}

export interface ContainerContext {
  containerId: string;
  name: string | undefined;
  hostPort: number | undefined;
  tty: number | undefined;
  dpi: number | undefined;
  startedAtMs: number | undefined;
  /** Why the container was rejected or failed; shown in snapshots. */
  error: string | undefined;
  /** The API request whose reply is owed once the current write finishes. */
  pendingRequestId: string | undefined;
  /** DPI requests that arrived during a write, oldest first. */
  queuedDpi: QueuedDpi[];
  /** The container died: after draining there is nothing to wait for. */
  ended: boolean;
  /** The service is stopping: once the write in flight is done, let go (`detaching`). */
  leaving: boolean;
  dpiTimeoutMs: number;
  inspectionFailures: number;
  inspectionRetryBaseMs: number;
  inspectionRetryMaxMs: number;
  adopted: FolderRecord | undefined;
  /** Cloud-storage mounts by (sanitised) provider name. */
  mounts: Record<string, MountActorRef>;
}

/**
 * A granted claim as the container takes it: its TTY, the host port it was
 * claimed for, and the verdict when the grant came with it.
 */
export interface GrantFacts {
  tty: number;
  hostPort: number;
  verdict?: Extract<InspectionVerdict, { kind: 'ready' }>;
}

/** The host's answer to a claim: a TTY for the container's host port, or why not. */
export type ClaimAnswer =
  { type: 'resources.granted'; tty: number } | { type: 'resources.denied'; reason: string };

export type ContainerEvent =
  /**
   * The inspection's verdict, by way of the host (`container.inspected`). For a
   * container that is ready, the host decides its claim in the same step and
   * sends the answer with it; without one the claim waits, and the answer
   * comes later on its own.
   */
  | { type: 'inspection.done'; verdict: InspectionVerdict; claim?: ClaimAnswer }
  | ClaimAnswer
  | { type: 'dpi.set'; requestId: string; dpi: number }
  | { type: 'container.died'; timeNano: string }
  /** The service stops and the container still runs: keep everything, end the actor. */
  | { type: 'host.leaving' }
  | {
      type: 'cloudStorage.mount';
      requestId: string;
      provider: string;
      credentials: Sealed<CloudCredentials>;
    }
  | MountToContainerEvent
  | ContainerIoEvent;

/**
 * How each of the container's own I/O calls ends, sent by the call to its
 * container (./machine.ts, `containerIoActions`); an inspection's verdict
 * goes to the host first (`container.inspected`), which sends it on as
 * `inspection.done`. Each kind is handled only in the state that started it,
 * so an answer that comes after the container moved on (a die during the
 * inspection) is ignored.
 */
export type ContainerIoEvent =
  | { type: 'inspection.failed'; error: unknown }
  | { type: 'startFiles.written' }
  | { type: 'startFiles.failed'; error: unknown }
  | { type: 'dpi.written' }
  | { type: 'dpi.failed'; error: unknown }
  | { type: 'cleanUp.done' }
  | { type: 'cleanUp.failed'; error: unknown };

/** Events the container sends to its parent, the host. */
export type ContainerToHostEvent =
  /**
   * Its inspection's verdict, sent by the inspection itself: a `ready` one
   * (running since `startedAtMs`, engine clock) claims a TTY for its host port.
   * The host sends the verdict on to the container with its answer, one step
   * for the container instead of two.
   */
  | { type: 'container.inspected'; containerId: string; verdict: InspectionVerdict }
  /** Died or set-up failed: it is cleaning up and holds its resources only until its folder is gone. */
  | { type: 'container.draining'; containerId: string }
  /** Drained and still running (`rejected`): its folder is gone, its TTY and host port go back. */
  | { type: 'resources.release'; containerId: string };

/**
 * The actor's end, which its host hears as the actor's done event
 * (`xstate.done.actor.<container id>`), not as an event of its own: one host
 * step fewer for every container. `removed`: its folder is gone, and whatever
 * it still holds goes back. `detached`: the service is stopping and left its
 * folder, TTY and mounts as they are.
 */
export interface ContainerOutput {
  containerId: string;
  end: 'removed' | 'detached';
}

/** The done event of a container actor, as its host receives it. */
export interface ContainerDoneEvent {
  type: `xstate.done.actor.${string}`;
  output: ContainerOutput;
}
