/**
 * The events that cross between the machines and the outside world. Kept in
 * one place so the host, the container machine and the implementations in
 * src/ agree on one vocabulary.
 */

/** What the engine told us about one container, as seen through inspection. */
export interface ContainerInspection {
  containerId: string;
  /** Docker's name without the leading slash. */
  name: string;
  running: boolean;
  /** Engine clock, ms since the epoch; 0 when the engine did not say. */
  startedAtMs: number;
  /** Host ports published for 32262/tcp, one per binding (often one per address family). */
  hostPortBindings: number[];
}

/** What the webserver hands over so that a user's cloud drive can be mounted. */
export interface CloudCredentials {
  accessToken: string;
  refreshToken: string;
  expiry: string;
  tokenType: string;
  clientId: string;
  clientSecret: string;
}

/**
 * Holds a value that must not leak: JSON (logs, snapshots, the inspector)
 * and string conversion show a placeholder; only `reveal()` gives the value.
 */
export class Sealed<T> {
  readonly #value: T;
  constructor(value: T) {
    this.#value = value;
  }
  reveal(): T {
    return this.#value;
  }
  toJSON(): string {
    return '[sealed]';
  }
  toString(): string {
    return '[sealed]';
  }
}

/** A request from the webserver, as the API layer hands it to the host. */
export type ApiRequest =
  | { kind: 'setDpi'; hostPort: number; dpi: number }
  | {
      kind: 'mountCloudStorage';
      hostPort: number;
      /** Already sanitised: only `[A-Za-z0-9_]`, never empty. */
      provider: string;
      credentials: Sealed<CloudCredentials>;
    };

export type ApiReply =
  { requestId: string; status: 200; result: string } | { requestId: string; status: 406; error: string };

/** Observations of the engine, produced by src/docker and fed to the host. */
export type DockerObservation =
  | { type: 'docker.connected' }
  | { type: 'docker.disconnected'; reason: string }
  | { type: 'docker.start'; containerId: string; name: string; timeNano: string }
  | { type: 'docker.die'; containerId: string; timeNano: string }
  /** A periodic re-list: which containers run, and when (local clock, ms) the list was asked for. */
  | { type: 'docker.listed'; running: { containerId: string; name: string }[]; listedAtMs: number };

export const ECS_AGENT_NAME = 'ecs-agent';

/** Engine event time (nanoseconds as a decimal string) in ms. */
export function timeNanoToMs(timeNano: string): number {
  return Number(BigInt(timeNano) / 1_000_000n);
}

/** What a mapping folder left by an earlier run says about its container. */
export interface FolderRecord {
  containerId: string;
  hostPort: number | undefined;
  tty: number | undefined;
  dpi: number | undefined;
  ready: boolean;
  /** When its `tty` file was written (ms); the older claim wins a duplicated TTY. */
  ttyWrittenAtMs: number | undefined;
  /**
   * Cloud-storage providers still mounted for its host port, each served by
   * the rclone an earlier run started (matched from the kernel's mount table
   * and the processes at start, not from the folder); none when absent.
   */
  mounts?: string[];
}
