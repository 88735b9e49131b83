/**
 * Users' cloud drives under `cloudStorage/<hostPort>/<provider>/`, each served
 * by its own `rclone mount`. The credentials reach rclone only through the
 * child's environment (`RCLONE_CONFIG_CLOUD_*`, readable by root alone in
 * /proc), never its command line or a file.
 *
 * This registry is the only thing that starts and stops rclone: the mount
 * actors ask it. A mount outlives the service: rclone runs in its own session
 * (and, under systemd, in its own transient scope unit), writes to a log file
 * rather than a pipe to us, and is not waited for, so the service's exit, its
 * process group and its unit's stop leave it serving. At start, `reconcile`
 * finds every mount an earlier run left from the kernel's mount table and
 * the process list (never from a saved token) and adopts those of
 * containers that still have a folder.
 *
 * Nothing under the root is ever deleted recursively: a mount folder is
 * removed with rmdir, which fails on anything still holding files (a mount
 * that did not go away, or a user's data), so no user file can be lost here.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { CloudCredentials, FolderRecord, Sealed } from '../../machines/events.js';
import type { MountTarget } from '../../machines/mount/machine.js';
import type { CloudBackend } from '../config.js';
import type { Logger } from '../observability/logger.js';

const run = promisify(execFile);

export interface CloudStorageOptions {
  root: string;
  /**
   * rclone's cache and log, one folder per mount; root only. Not under the
   * private folder: that goes at every stop, and a mount that outlives the
   * service keeps its cache.
   */
  stateDir: string;
  backends: Record<string, CloudBackend>;
  mountTimeoutMs: number;
  logger: Logger;
  /** Run each rclone in a transient systemd scope; by default when the service itself runs under systemd. */
  systemdScopes?: boolean;
}

interface ActiveMount {
  target: MountTarget;
  dir: string;
  pid: number | undefined;
  /** Resolves with a description of how rclone ended. */
  ended: Promise<string>;
  stopping: boolean;
  /** Our own child; undefined for a mount adopted from an earlier run. */
  child: ChildProcess | undefined;
  /** What rclone may print that must not be repeated (only known for our own mounts). */
  secrets: string[];
  stopWatching: () => void;
}

/** What `reconcile` did with the mounts an earlier run left. */
export interface MountReconciliation {
  /** Container id to the providers still served for it, now watched by this registry. */
  adopted: Map<string, string[]>;
  /** Mounts of containers that have no folder any more: unmounted, their rclone stopped. */
  removed: string[];
  /** Mounts whose rclone had died while the service was down: detached. */
  orphaned: string[];
  /** Folders of rclones that served nothing (they died mounting, or lost their mount): stopped. */
  idle: string[];
}

const STOP_GRACE_MS = 5000;
const POLL_MS = 50;
/** How often an adopted rclone (not our child, so no exit event) is checked. */
const ADOPTED_POLL_MS = 1000;
const LOG_TAIL_LINES = 5;

/** The environment that makes `cloud:` the user's remote, and nothing else of ours. */
export function rcloneEnvironment(
  backend: CloudBackend,
  credentials: CloudCredentials,
): Record<string, string> {
  const options: Record<string, string> = { type: backend.type, ...backend.options };
  if ((backend.credentials ?? 'oauth') === 'bearer') {
    options['bearer_token'] = credentials.accessToken;
  } else {
    options['token'] = JSON.stringify({
      access_token: credentials.accessToken,
      token_type: credentials.tokenType,
      refresh_token: credentials.refreshToken,
      expiry: credentials.expiry,
    });
    if (credentials.clientId !== '') options['client_id'] = credentials.clientId;
    if (credentials.clientSecret !== '') options['client_secret'] = credentials.clientSecret;
  }
  const env: Record<string, string> = {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    RCLONE_CONFIG: '/dev/null',
  };
  for (const [key, value] of Object.entries(options)) env[`RCLONE_CONFIG_CLOUD_${key.toUpperCase()}`] = value;
  return env;
}

/** The rclone command line of one mount; no credential is ever on it. */
export function rcloneMountArgs(dir: string, cacheDir: string): string[] {
  return ['mount', 'cloud:/', dir, '--allow-other', '--vfs-cache-mode', 'writes', '--cache-dir', cacheDir];
}

/**
 * The command that starts rclone. Under systemd it runs in a transient scope
 * unit of its own (`systemd-run --scope` registers the scope, then becomes
 * rclone: same pid, same environment), so no stop of the service's unit,
 * whatever its KillMode, reaches it, and each mount shows as its own unit.
 */
export function rcloneLaunch(
  target: MountTarget,
  args: string[],
  systemdScopes: boolean,
): { command: string; args: string[] } {
  if (!systemdScopes) return { command: 'rclone', args };
  return {
    command: 'systemd-run',
    args: [
      '--scope',
      '--quiet',
      '--collect',
      `--unit=ecs-host-service-rclone-${target.hostPort}-${target.provider}`,
      `--description=cloud storage ${target.provider} of host port ${target.hostPort}`,
      'rclone',
      ...args,
    ],
  };
}

/** The service runs as a systemd unit (systemd sets INVOCATION_ID for every unit it starts). */
export function underSystemd(env: NodeJS.ProcessEnv = process.env): boolean {
  return env['INVOCATION_ID'] !== undefined && existsSync('/run/systemd/system');
}

/** Mount points as the kernel lists them (octal escapes decoded). */
export async function mountPoints(): Promise<string[]> {
  const text = await fs.readFile('/proc/self/mountinfo', 'utf8');
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) =>
      line
        .split(' ')[4]!
        .replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8))),
    );
}

async function commandLineOf(pid: number): Promise<string[] | undefined> {
  const raw = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => undefined);
  return raw === undefined || raw === '' ? undefined : raw.split('\0').filter((arg) => arg !== '');
}

/** `rclone mount cloud:/ DIR ...`: the folder it serves, or undefined for any other process. */
export function mountedDirOf(commandLine: readonly string[]): string | undefined {
  const [program, verb, remote, dir] = commandLine;
  if (program === undefined || path.basename(program) !== 'rclone') return undefined;
  return verb === 'mount' && remote === 'cloud:/' && dir !== undefined ? dir : undefined;
}

/** Every running `rclone mount`, by the folder it serves. */
export async function rcloneProcesses(): Promise<Map<string, number>> {
  const found = new Map<string, number>();
  const pids = (await fs.readdir('/proc')).filter((name) => /^\d+$/.test(name)).map(Number);
  await Promise.all(
    pids.map(async (pid) => {
      const commandLine = await commandLineOf(pid);
      const dir = commandLine === undefined ? undefined : mountedDirOf(commandLine);
      if (dir !== undefined) found.set(path.resolve(dir), pid);
    }),
  );
  return found;
}

/** Alive and still the rclone serving `dir` (a pid can be reused). */
async function servesDir(pid: number, dir: string): Promise<boolean> {
  const commandLine = await commandLineOf(pid);
  return commandLine !== undefined && mountedDirOf(commandLine) === dir;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class CloudStorageMounts {
  readonly #active = new Map<string, ActiveMount>();
  readonly #systemdScopes: boolean;

  constructor(private readonly options: CloudStorageOptions) {
    this.#systemdScopes = options.systemdScopes ?? underSystemd();
  }

  get providers(): ReadonlySet<string> {
    return new Set(Object.keys(this.options.backends));
  }

  /** The mount folder; refuses anything that would not sit directly under `<root>/<hostPort>/`. */
  dirOf({ hostPort, provider }: MountTarget): string {
    const root = path.resolve(this.options.root);
    const dir = path.resolve(root, String(hostPort), provider);
    if (!/^[A-Za-z0-9_]+$/.test(provider) || path.dirname(path.dirname(dir)) !== root) {
      throw new Error(`refusing a mount folder outside ${root}: ${JSON.stringify(provider)}`);
    }
    return dir;
  }

  /** The target a mount folder stands for, if it is one of ours. */
  targetOf(dir: string): MountTarget | undefined {
    const root = path.resolve(this.options.root);
    const relative = path.relative(root, dir).split(path.sep);
    if (relative.length !== 2 || !/^\d{1,5}$/.test(relative[0]!)) return undefined;
    const target = { hostPort: Number(relative[0]), provider: relative[1]! };
    try {
      return this.dirOf(target) === path.resolve(dir) ? target : undefined;
    } catch {
      return undefined;
    }
  }

  #stateOf(target: MountTarget): { folder: string; cache: string; log: string } {
    const folder = path.join(this.options.stateDir, `${target.hostPort}-${target.provider}`);
    return { folder, cache: path.join(folder, 'cache'), log: path.join(folder, 'rclone.log') };
  }

  async mount(target: MountTarget, credentials: Sealed<CloudCredentials>): Promise<void> {
    const key = this.dirOf(target);
    const backend = this.options.backends[target.provider];
    if (backend === undefined) throw new Error(`unknown cloud storage provider ${target.provider}`);
    if (this.#active.has(key)) throw new Error(`${key} is already mounted`);
    await fs.mkdir(path.dirname(key), { recursive: true, mode: 0o755 });
    await fs.mkdir(key, { mode: 0o755 }).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    });
    const state = this.#stateOf(target);
    await fs.mkdir(this.options.stateDir, { recursive: true, mode: 0o700 });
    await fs.mkdir(state.cache, { recursive: true, mode: 0o700 });

    // A file, not a pipe: a pipe would break when the service exits and take rclone with it (SIGPIPE).
    const logFile = await fs.open(state.log, 'w', 0o600);
    const launch = rcloneLaunch(target, rcloneMountArgs(key, state.cache), this.#systemdScopes);
    let child: ChildProcess;
    try {
      child = spawn(launch.command, launch.args, {
        env: rcloneEnvironment(backend, credentials.reveal()),
        stdio: ['ignore', 'ignore', logFile.fd],
        // Its own session: Ctrl-C or a signal to the service's process group does not reach it.
        detached: true,
      });
    } finally {
      await logFile.close();
    }
    child.unref();
    const secrets = secretsOf(credentials.reveal());
    const ended = new Promise<string>((resolve) => {
      child.once('error', (error) => resolve(`rclone could not run: ${error.message}`));
      child.once('exit', (code, signal) => {
        void this.#lastWords(state.log, secrets).then((words) =>
          resolve(`rclone exited (${signal ?? code})${words === '' ? '' : `: ${words}`}`),
        );
      });
    });
    const active: ActiveMount = {
      target,
      dir: key,
      pid: child.pid,
      child,
      ended,
      stopping: false,
      secrets,
      stopWatching: () => {},
    };
    this.#active.set(key, active);
    this.options.logger.info(
      { hostPort: target.hostPort, provider: target.provider, pid: child.pid, log: state.log },
      'rclone started',
    );

    try {
      await this.#untilServed(active, this.options.mountTimeoutMs);
    } catch (error) {
      await this.unmount(target);
      throw error;
    }
  }

  /** rclone's last lines, with anything of the user's credentials blanked out. */
  async #lastWords(logPath: string, secrets: string[]): Promise<string> {
    const text = await fs.readFile(logPath, 'utf8').catch(() => '');
    const lines = text.split('\n').filter((line) => line.trim() !== '');
    // rclone does not print credentials, but an error could quote a server's answer that does.
    return lines
      .slice(-LOG_TAIL_LINES)
      .map((line) => secrets.reduce((out, secret) => out.replaceAll(secret, '[redacted]'), line))
      .join(' | ');
  }

  /** Served = listed by the kernel and the remote answers a listing (a bad token fails here). */
  async #untilServed(active: ActiveMount, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let exited: string | undefined;
    void active.ended.then((why) => (exited = why));
    const timeLeft = () => deadline - Date.now();
    while (!(await mountPoints()).includes(active.dir)) {
      if (exited !== undefined) throw new Error(exited);
      if (timeLeft() <= 0) throw new Error(`rclone did not mount within ${timeoutMs} ms`);
      await sleep(POLL_MS);
    }
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`the remote did not answer within ${timeoutMs} ms`)),
        Math.max(timeLeft(), 0),
      );
    });
    try {
      await Promise.race([
        fs.readdir(active.dir).catch((error: NodeJS.ErrnoException) => {
          throw new Error(`the remote refused a listing (${error.code ?? error.message})`);
        }),
        expired,
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Takes over a mount an earlier run left, served by `pid`: from now on it
   * is watched (no exit event for a process that is not our child: it is
   * polled) and unmounted like one of ours.
   */
  #adopt(target: MountTarget, pid: number): void {
    const dir = this.dirOf(target);
    let timer: NodeJS.Timeout | undefined;
    const ended = new Promise<string>((resolve) => {
      timer = setInterval(() => {
        void servesDir(pid, dir).then((alive) => {
          if (alive) return;
          clearInterval(timer);
          resolve(`rclone (pid ${pid}, adopted) exited; its log is ${this.#stateOf(target).log}`);
        });
      }, ADOPTED_POLL_MS);
      timer.unref();
    });
    this.#active.set(dir, {
      target,
      dir,
      pid,
      child: undefined,
      ended,
      stopping: false,
      secrets: [],
      stopWatching: () => clearInterval(timer),
    });
  }

  /** Resolves when the mount ends without `unmount` having been asked for. */
  async ended(target: MountTarget): Promise<string> {
    const active = this.#active.get(this.dirOf(target));
    if (active === undefined) return 'the mount is not active';
    const why = await active.ended;
    // Asked to stop: not a failure, and the state that asked does not listen any more.
    if (active.stopping) return new Promise<never>(() => {});
    return why;
  }

  /** Lazy unmount, stop rclone (bounded), then rmdir the folder and an empty host-port folder. */
  async unmount(target: MountTarget): Promise<void> {
    const dir = this.dirOf(target);
    const active = this.#active.get(dir);
    const problems: string[] = [];
    if ((await mountPoints()).includes(dir)) {
      await run('fusermount3', ['-u', '-z', dir], { timeout: STOP_GRACE_MS }).catch((error: Error) =>
        problems.push(`fusermount: ${error.message}`),
      );
    }
    if (active !== undefined) {
      active.stopping = true;
      active.stopWatching();
      await this.#stopProcess(active).catch((error: Error) => problems.push(error.message));
      this.#active.delete(dir);
    }
    await fs
      .rm(this.#stateOf(target).folder, { recursive: true, force: true })
      .catch((error: Error) => problems.push(`rclone state: ${error.message}`));
    await removeEmptyFolder(dir).catch((error: Error) => problems.push(error.message));
    await removeEmptyFolder(path.dirname(dir)).catch(() => {
      // Another provider of the same container may still be mounted there.
    });
    if (problems.length > 0) throw new Error(problems.join('; '));
  }

  /** SIGTERM, then SIGKILL after the grace period; resolves once rclone is gone. */
  async #stopProcess(active: ActiveMount): Promise<void> {
    const { child, pid } = active;
    if (child !== undefined) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      await active.ended;
      clearTimeout(killer);
      return;
    }
    if (pid === undefined) return;
    const signal = (name: NodeJS.Signals) => {
      try {
        process.kill(pid, name);
      } catch {
        // Already gone.
      }
    };
    signal('SIGTERM');
    const deadline = Date.now() + STOP_GRACE_MS;
    while (await servesDir(pid, active.dir)) {
      if (Date.now() > deadline) {
        signal('SIGKILL');
        if (Date.now() > deadline + 1000) throw new Error(`rclone (pid ${pid}) did not stop`);
      }
      await sleep(POLL_MS);
    }
  }

  /**
   * At start: every mount under the root that an earlier run left. One whose
   * rclone still runs and whose host port belongs to a folder is adopted for
   * that folder's container; one whose container has no folder any more is
   * unmounted and its rclone stopped; one whose rclone died is detached. An
   * rclone that serves nothing (it died mounting, or its mount was taken
   * away) is stopped.
   */
  async reconcile(folders: readonly FolderRecord[]): Promise<MountReconciliation> {
    const root = path.resolve(this.options.root) + path.sep;
    const ownerOf = new Map<number, string>();
    for (const folder of folders) {
      if (folder.hostPort !== undefined && !ownerOf.has(folder.hostPort))
        ownerOf.set(folder.hostPort, folder.containerId);
    }
    const points = (await mountPoints()).filter((dir) => dir.startsWith(root));
    const processes = await rcloneProcesses();
    const result: MountReconciliation = { adopted: new Map(), removed: [], orphaned: [], idle: [] };
    for (const dir of points) {
      const target = this.targetOf(dir);
      const pid = processes.get(dir);
      processes.delete(dir);
      if (target === undefined || pid === undefined) {
        await detach(dir);
        result.orphaned.push(dir);
        continue;
      }
      this.#adopt(target, pid);
      const owner = ownerOf.get(target.hostPort);
      if (owner === undefined) {
        await this.unmount(target).catch((error: Error) =>
          this.options.logger.warn({ err: error, dir }, 'a mount of a gone container was not fully removed'),
        );
        result.removed.push(dir);
        continue;
      }
      result.adopted.set(owner, [...(result.adopted.get(owner) ?? []), target.provider]);
    }
    for (const [dir, pid] of processes) {
      if (!dir.startsWith(root)) continue;
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // Gone meanwhile.
      }
      await removeEmptyFolder(dir).catch(() => {});
      result.idle.push(dir);
    }
    return result;
  }
}

/** Lazily detaches a mount nobody serves any more and removes its empty folders. */
async function detach(dir: string): Promise<void> {
  await run('fusermount3', ['-u', '-z', dir], { timeout: STOP_GRACE_MS }).catch(() => {});
  await removeEmptyFolder(dir).catch(() => {});
  await removeEmptyFolder(path.dirname(dir)).catch(() => {});
}

function secretsOf(credentials: CloudCredentials): string[] {
  return [credentials.accessToken, credentials.refreshToken, credentials.clientSecret].filter(
    (secret) => secret.length >= 4,
  );
}

async function removeEmptyFolder(dir: string): Promise<void> {
  await fs.rmdir(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw new Error(`${dir} not removed: ${error.code ?? error.message}`);
  });
}
