/** What a container actor takes, holds and exchanges with its host. */
import type { CloudCredentials, FolderRecord, Sealed } from '../events.js';
import type { MountActorRef, MountToContainerEvent } from '../mount/machine.js';

/**
 * Inspections tried before a container is given up as unreadable. A failure
 * other than "no such container" is the engine's trouble, not the
 * container's: draining on the first one would take the folder and TTY of a
 * live (for instance adopted) container.
 */
export const INSPECTION_ATTEMPTS = 4;
export const INSPECTION_RETRY_BASE_MS = 250;

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
  | MountToContainerEvent;

/** Events the container sends to its parent, the host. */
export type ContainerToHostEvent =
  /** Inspected and running since `startedAtMs` (engine clock): asks for a TTY and its host port. */
  | { type: 'resources.claim'; containerId: string; hostPort: number; startedAtMs: number }
  /** Died or set-up failed: it is cleaning up and holds its resources only until its folder is gone. */
  | { type: 'container.draining'; containerId: string }
  /** Drained and still running (`rejected`): its folder is gone, its TTY and host port go back. */
  | { type: 'resources.release'; containerId: string }
  | { type: 'container.acceptingRequests'; containerId: string; hostPort: number }
  /** The actor's end: its folder is gone; whatever it still holds goes back. */
  | { type: 'container.removed'; containerId: string }
  /** The service is stopping and left the container's folder, TTY and mounts as they are. */
  | { type: 'container.detached'; containerId: string };
