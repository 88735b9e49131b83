/**
 * The built service started the way `make run` starts it: the executable
 * run through its shebang, development settings with no secret (so the
 * development default), pretty logs as a terminal shows them. The raw output
 * lines are kept, since what a person reads is what these tests check.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import readline from 'node:readline';
import { freePort } from './api.js';
import { freshRoot, loopbackServiceEnv, serviceExecutable } from './service.js';
import { waitFor } from './wait.js';

export interface DevService {
  process: ChildProcess;
  pid: number;
  root: string;
  port: number;
  /** Every line the process wrote to stdout or stderr, in order. */
  lines: string[];
  waitForLine(what: string, match: (line: string) => boolean, timeoutMs?: number): Promise<string>;
  stop(): Promise<number | null>;
}

export async function startDevService(env: Record<string, string> = {}): Promise<DevService> {
  const root = freshRoot();
  const port = await freePort();
  const child = spawn(serviceExecutable, [], {
    env: {
      ...loopbackServiceEnv(),
      HOST_SERVICE_ROOT: root,
      HOST_SERVICE_PORT: String(port),
      HOST_SERVICE_RELIST_INTERVAL_MS: '2000',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  for (const stream of [child.stdout!, child.stderr!]) {
    readline.createInterface({ input: stream }).on('line', (line) => lines.push(line));
  }
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const service: DevService = {
    process: child,
    pid: child.pid!,
    root,
    port,
    lines,
    waitForLine: (what, match, timeoutMs = 15_000) =>
      waitFor(
        `output line: ${what}`,
        () => {
          const found = lines.find(match);
          if (found === undefined && child.exitCode !== null) {
            throw new Error(`the service exited (${child.exitCode}): ${lines.slice(-10).join('\n')}`);
          }
          return found;
        },
        timeoutMs,
      ),
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
  await service.waitForLine('the API listening', (l) => l.includes('HTTPS API listening'));
  await service.waitForLine('engine connected', (l) => l.includes('engine connected'));
  return service;
}
