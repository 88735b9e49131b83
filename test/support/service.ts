/**
 * The service as a real child process: the built executable, its own root
 * folder and port, JSON logs collected line by line for assertions.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { unitNodeOptions, unitSettings } from '../../scripts/unitEnvironment.mjs';
import { firstServicePort } from './listening.js';
import { temporaryRoot } from './tempRoots.js';
import { waitFor } from './wait.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const serviceExecutable = path.join(repoRoot, 'build/ecs-host-service');

/**
 * The environment the systemd unit gives the service on every host (its
 * `Environment=` lines), but `APP_ENV`: tests, benchmarks and `make run`
 * choose their own. The Node options and glibc's settings are among it, so
 * they run the service as hosts do.
 */
export function unitEnvironment(): Record<string, string> {
  return Object.fromEntries(Object.entries(unitSettings()).filter(([name]) => name !== 'APP_ENV'));
}

/** The Node options the systemd unit gives the service on every host. */
export { unitNodeOptions };

/** The unit's settings of glibc's allocator (`MALLOC_...`). */
export function unitMallocSettings(): Record<string, string> {
  const settings = Object.entries(unitEnvironment()).filter(([name]) => name.startsWith('MALLOC_'));
  if (settings.length === 0) throw new Error('deploy/ecs-host-service.service has no MALLOC_ line');
  return Object.fromEntries(settings);
}

/**
 * Node flags for the service beside the unit's (which come with
 * `loopbackServiceEnv`): any from BENCH_NODE_FLAGS (e.g. "--cpu-prof
 * --cpu-prof-dir=/tmp/prof"), to profile it under a test or benchmark. They
 * go on node's command line; for a single executable (BENCH_EXECUTABLE) into
 * NODE_OPTIONS, which refuses many (`--cpu-prof`, `--prof`, most of V8's own:
 * the service then does not start; `--inspect` is taken).
 */
export function serviceNodeFlags(): string[] {
  return (process.env['BENCH_NODE_FLAGS'] ?? '').split(' ').filter((f) => f !== '');
}

/**
 * BENCH_EXECUTABLE: a single executable (what `make build-prod` makes and
 * hosts run; `make bench BENCH_BUILD=production` builds one) to start instead
 * of the development build.
 */
export const singleExecutable = process.env['BENCH_EXECUTABLE'] || undefined;

/**
 * The command that starts the service with Node's `flags`: `node [flags]
 * script`, or, with BENCH_EXECUTABLE, that executable alone. It has no
 * command line for Node, so the flags then follow the unit's in
 * NODE_OPTIONS, as a host would give them (Node accepts fewer flags there).
 */
export function serviceCommand(
  flags: string[],
  env: Record<string, string>,
  script: string = serviceExecutable,
  executable: string | undefined = singleExecutable,
): { command: string; args: string[]; env: Record<string, string> } {
  // Another script (a release test's scratch build) is a script for this Node.js, whatever is measured.
  if (executable === undefined || script !== serviceExecutable) {
    return { command: process.execPath, args: [...flags, script], env };
  }
  const nodeOptions = [env['NODE_OPTIONS'] ?? '', ...flags].filter((f) => f !== '').join(' ');
  return { command: executable, args: [], env: { ...env, NODE_OPTIONS: nodeOptions } };
}

/**
 * What every service that tests and benchmarks start shares: development
 * mode, the unit's environment, the private engine, and the metadata service
 * on the discard port of 127.0.0.1 (nothing listens there, so a development
 * run falls back to local metadata at once). Without it the service asks
 * 169.254.169.254, which a test or benchmark must never contact.
 */
export function loopbackServiceEnv(): Record<string, string> {
  return {
    ...unitEnvironment(),
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    DOCKER_HOST: process.env['DOCKER_HOST'] ?? '',
    APP_ENV: 'development',
    EC2_METADATA_URL: 'http://127.0.0.1:9',
  };
}

export interface LogLine {
  level: number;
  msg: string;
  containerId?: string;
  hostPort?: number;
  tty?: number;
  [key: string]: unknown;
}

export interface RunningService {
  process: ChildProcess;
  root: string;
  mappings: string;
  cloudStorage: string;
  privateDir: string;
  port: number;
  logs: LogLine[];
  /** Everything the process wrote that was not a JSON log line (for failure messages). */
  otherOutput: string[];
  waitForLog(what: string, match: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Sends the signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
  exited: Promise<number | null>;
}

/** The auth_secret every test service is started with (tests may override WEBSERVER_AUTH_SECRET). */
export const TEST_AUTH_SECRET = 'test-secret-5f1c0a9e7b3d4c2a';

let nextPort = firstServicePort();

/**
 * Services still running when the test process exits: a test that timed out
 * never reached its own `stop()`, and its service would run on, orphaned,
 * holding its port and retrying its engine. Asked to stop as a host would.
 */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGTERM');
});

export function freshRoot(): string {
  return temporaryRoot('hs-root-');
}

export async function startService(
  options: {
    env?: Record<string, string>;
    root?: string;
    waitForEngine?: boolean;
    /** Another build of the service than build/ (a release test's scratch build). */
    executable?: string;
    /** A single executable to run instead (a released artifact), its Node flags in NODE_OPTIONS. */
    singleExecutable?: string;
    /** Node flags before the executable, beside BENCH_NODE_FLAGS (`--import` of a probe, say). */
    nodeFlags?: string[];
  } = {},
): Promise<RunningService> {
  const root = options.root ?? freshRoot();
  const port = nextPort++;
  const started = serviceCommand(
    [...(options.nodeFlags ?? []), ...serviceNodeFlags()],
    {
      ...loopbackServiceEnv(),
      HOST_SERVICE_ROOT: root,
      HOST_SERVICE_PORT: String(port),
      LOG_FORMAT: 'json',
      LOG_LEVEL: 'debug',
      HOST_SERVICE_RELIST_INTERVAL_MS: '2000',
      WEBSERVER_AUTH_SECRET: TEST_AUTH_SECRET,
      ...options.env,
    },
    options.executable,
    options.singleExecutable,
  );
  const child = spawn(started.command, started.args, { env: started.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: LogLine[] = [];
  const otherOutput: string[] = [];
  const waiters = new Set<() => void>();
  const collect = (stream: NodeJS.ReadableStream) =>
    readline.createInterface({ input: stream }).on('line', (line) => {
      try {
        logs.push(JSON.parse(line) as LogLine);
      } catch {
        otherOutput.push(line);
      }
      for (const wake of waiters) wake();
    });
  collect(child.stdout!);
  collect(child.stderr!);
  running.add(child);
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      running.delete(child);
      resolve(code);
    }),
  );

  const service: RunningService = {
    process: child,
    root,
    mappings: path.join(root, 'fractal/containerResourceMappings'),
    cloudStorage: path.join(root, 'fractal/cloudStorage'),
    privateDir: path.join(root, 'fractalprivate'),
    port,
    logs,
    otherOutput,
    exited,
    waitForLog: (what, match, timeoutMs = 15_000) =>
      waitFor(
        `log line: ${what}`,
        () => logs.find(match) ?? (child.exitCode !== null ? failExited() : undefined),
        timeoutMs,
      ),
    stop: async (signal = 'SIGTERM', timeoutMs = 20_000) => {
      if (child.exitCode === null) child.kill(signal);
      const timeout = new Promise<never>((_, reject) =>
        setTimeout(
          () => reject(new Error(`service did not exit within ${timeoutMs} ms of ${signal}`)),
          timeoutMs,
        ).unref(),
      );
      return Promise.race([exited, timeout]);
    },
  };
  // Its last log lines too: a fatal stop says why only there, in JSON.
  function failExited(): never {
    const lastLogs = logs.slice(-10).map((l) => JSON.stringify(l));
    throw new Error(
      `the service exited (${child.exitCode}); last log lines:\n${lastLogs.join('\n')}\nother output: ${otherOutput.slice(-20).join('\n')}`,
    );
  }
  if (options.waitForEngine !== false) {
    await service.waitForLog('engine connected', (l) => l.msg === 'engine connected');
  }
  return service;
}
