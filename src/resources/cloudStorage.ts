/**
 * Users' cloud drives under `cloudStorage/<hostPort>/<provider>/`, each served
 * by its own `rclone mount`. The credentials reach rclone only through the
 * child's environment (`RCLONE_CONFIG_CLOUD_*`, readable by root alone in
 * /proc), never its command line or a file.
 *
 * Nothing under the root is ever deleted recursively: a mount folder is
 * removed with rmdir, which fails on anything still holding files (a mount
 * that did not go away, or a user's data), so no user file can be lost here.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import readline from 'node:readline';
import { promisify } from 'node:util';
import type { CloudCredentials, Sealed } from '../../machines/events.js';
import type { MountTarget } from '../../machines/mount.js';
import type { Logger } from '../observability/logger.js';

const run = promisify(execFile);

/** How a provider's credentials become an rclone remote. */
export interface CloudBackend {
  /** The rclone backend: `drive`, `dropbox`, `webdav`, ... */
  type: string;
  /** Fixed options of the remote (e.g. a webdav `url`). */
  options?: Record<string, string>;
  /** `oauth`: token JSON plus client id and secret; `bearer`: the access token as `bearer_token`. */
  credentials?: 'oauth' | 'bearer';
}

export const DEFAULT_BACKENDS: Record<string, CloudBackend> = {
  google_drive: { type: 'drive' },
  dropbox: { type: 'dropbox' },
};

export interface CloudStorageOptions {
  root: string;
  /** rclone's cache and state: under the private folder, root only. */
  cacheDir: string;
  backends: Record<string, CloudBackend>;
  mountTimeoutMs: number;
  logger: Logger;
}

interface ActiveMount {
  target: MountTarget;
  dir: string;
  child: ChildProcess;
  /** Resolves with a description of how rclone ended. */
  ended: Promise<string>;
  stopping: boolean;
}

const STOP_GRACE_MS = 5000;
const POLL_MS = 50;

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

export class CloudStorageMounts {
  readonly #active = new Map<string, ActiveMount>();

  constructor(private readonly options: CloudStorageOptions) {}

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

  async mount(target: MountTarget, credentials: Sealed<CloudCredentials>): Promise<void> {
    const key = this.dirOf(target);
    const backend = this.options.backends[target.provider];
    if (backend === undefined) throw new Error(`unknown cloud storage provider ${target.provider}`);
    if (this.#active.has(key)) throw new Error(`${key} is already mounted`);
    await fs.mkdir(path.dirname(key), { recursive: true, mode: 0o755 });
    await fs.mkdir(key, { mode: 0o755 }).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    });
    const cacheDir = path.join(this.options.cacheDir, `${target.hostPort}-${target.provider}`);
    await fs.mkdir(cacheDir, { recursive: true, mode: 0o700 });

    const child = spawn(
      'rclone',
      ['mount', 'cloud:/', key, '--allow-other', '--vfs-cache-mode', 'writes', '--cache-dir', cacheDir],
      { env: rcloneEnvironment(backend, credentials.reveal()), stdio: ['ignore', 'ignore', 'pipe'] },
    );
    const log = this.options.logger.child({ hostPort: target.hostPort, provider: target.provider });
    const recent: string[] = [];
    const secrets = secretsOf(credentials.reveal());
    readline.createInterface({ input: child.stderr! }).on('line', (raw) => {
      // rclone does not print credentials, but an error could quote a server's answer that does.
      const line = secrets.reduce((text, secret) => text.replaceAll(secret, '[redacted]'), raw);
      recent.push(line);
      if (recent.length > 5) recent.shift();
      log.warn({ rclone: line }, 'rclone says');
    });
    const ended = new Promise<string>((resolve) => {
      child.once('error', (error) => resolve(`rclone could not run: ${error.message}`));
      child.once('exit', (code, signal) =>
        resolve(`rclone exited (${signal ?? code})${recent.length > 0 ? `: ${recent.at(-1)}` : ''}`),
      );
    });
    const active: ActiveMount = { target, dir: key, child, ended, stopping: false };
    this.#active.set(key, active);

    try {
      await this.#untilServed(active, this.options.mountTimeoutMs);
    } catch (error) {
      await this.unmount(target);
      throw error;
    }
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
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
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
      if (active.child.exitCode === null && active.child.signalCode === null) active.child.kill('SIGTERM');
      const killer = setTimeout(() => active.child.kill('SIGKILL'), STOP_GRACE_MS);
      await active.ended;
      clearTimeout(killer);
      this.#active.delete(dir);
    }
    await fs
      .rm(path.join(this.options.cacheDir, `${target.hostPort}-${target.provider}`), {
        recursive: true,
        force: true,
      })
      .catch((error: Error) => problems.push(`cache: ${error.message}`));
    await removeEmptyFolder(dir).catch((error: Error) => problems.push(error.message));
    await removeEmptyFolder(path.dirname(dir)).catch(() => {
      // Another provider of the same container may still be mounted there.
    });
    if (problems.length > 0) throw new Error(problems.join('; '));
  }

  /** Every mount of one host port: the container's safety net when it goes. */
  async unmountHostPort(hostPort: number): Promise<void> {
    const targets = this.#targets().filter((t) => t.hostPort === hostPort);
    await settleAll(targets.map((t) => this.unmount(t)));
  }

  async unmountAll(): Promise<void> {
    await settleAll(this.#targets().map((t) => this.unmount(t)));
  }

  /** At start: mounts a previous run left (its rclone is gone, so they only fail) are detached and removed. */
  async removeStaleMounts(): Promise<string[]> {
    const root = path.resolve(this.options.root) + path.sep;
    const stale = (await mountPoints()).filter((dir) => dir.startsWith(root));
    for (const dir of stale) {
      await run('fusermount3', ['-u', '-z', dir], { timeout: STOP_GRACE_MS }).catch(() => {});
      await removeEmptyFolder(dir).catch(() => {});
      await removeEmptyFolder(path.dirname(dir)).catch(() => {});
    }
    return stale;
  }

  #targets(): MountTarget[] {
    return [...this.#active.values()].map((a) => a.target);
  }
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

async function settleAll(work: Promise<void>[]): Promise<void> {
  const failures = (await Promise.allSettled(work)).filter((r) => r.status === 'rejected');
  if (failures.length > 0) {
    throw new Error(failures.map((f) => String((f as PromiseRejectedResult).reason)).join('; '));
  }
}
