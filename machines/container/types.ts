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

export type ContainerEvent =
  | { type: 'resources.granted'; tty: number }
  | { type: 'resources.denied'; reason: string }
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
 * container (./machine.ts, `containerIoActions`). Each kind is handled only
 * in the state that started it, so an answer that comes after the container
 * moved on (a die during the inspection) is ignored.
 */
export type ContainerIoEvent =
  | { type: 'inspection.done'; verdict: InspectionVerdict }
  | { type: 'inspection.failed'; error: unknown }
  | { type: 'startFiles.written' }
  | { type: 'startFiles.failed'; error: unknown }
  | { type: 'dpi.written' }
  | { type: 'dpi.failed'; error: unknown }
  | { type: 'cleanUp.done' }
  | { type: 'cleanUp.failed'; error: unknown };

/** Events the container sends to its parent, the host. */
export type ContainerToHostEvent =
  /** Inspected and running since `startedAtMs` (engine clock): asks for a TTY and its host port. */
  | { type: 'resources.claim'; containerId: string; hostPort: number; startedAtMs: number }
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
