/** Shared pieces of the benchmarks: the built service as a child process, RSS, percentiles. */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import Docker from 'dockerode';
import { loopbackServiceEnv, repoRoot, serviceCommand, serviceNodeFlags } from '../test/support/service.js';
import { firstServicePort } from '../test/support/listening.js';
import { temporaryRoot } from '../test/support/tempRoots.js';
import { startSentryStandIn } from '../test/support/standins/sentry.js';

export { repoRoot };

export interface BenchService {
  child: ChildProcess;
  root: string;
  mappings: string;
  port: number;
  lines: Record<string, unknown>[];
  waitFor(msg: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  stop(): Promise<number | null>;
}

export async function startBenchService(
  env: Record<string, string> = {},
  nodeFlags: string[] = [],
  existingRoot?: string,
) {
  const root = existingRoot ?? temporaryRoot('hs-bench-');
  const port = firstServicePort();
  const started = serviceCommand([...nodeFlags, ...serviceNodeFlags()], {
    ...loopbackServiceEnv(),
    HOST_SERVICE_ROOT: root,
    HOST_SERVICE_PORT: String(port),
    LOG_FORMAT: 'json',
    LOG_LEVEL: 'info',
    ...env,
  });
  const child = spawn(started.command, started.args, {
    env: started.env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: Record<string, unknown>[] = [];
  const waiters: (() => void)[] = [];
  readline.createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      lines.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      return;
    }
    waiters.splice(0).forEach((wake) => wake());
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  const service: BenchService = {
    child,
    root,
    mappings: path.join(root, 'fractal/containerResourceMappings'),
    port,
    lines,
    async waitFor(msg, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = lines.find((l) => l['msg'] === msg);
        if (found) return found;
        if (Date.now() > deadline) throw new Error(`no "${msg}" within ${timeoutMs} ms`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 100);
        });
      }
    },
    async stop() {
      child.kill('SIGTERM');
      return exited;
    },
  };
  return service;
}

/** First and last time (ms after `startedAtMs`) and count of each log message, digits folded so that per-container lines group. */
export function printTimeline(lines: Record<string, unknown>[], startedAtMs: number): void {
  const seen = new Map<string, { first: number; last: number; count: number }>();
  for (const line of lines) {
    const message = String(line['msg']).replace(/\d+/g, 'N');
    const at = Number(line['time']) - startedAtMs;
    const entry = seen.get(message);
    if (entry) {
      entry.last = at;
      entry.count += 1;
    } else seen.set(message, { first: at, last: at, count: 1 });
  }
  for (const [message, { first, last, count }] of seen) {
    console.log(`  ${Math.round(first)}..${Math.round(last)} ms x${count} ${message}`);
  }
}

/** User plus system CPU time the process has used so far, in ms (from /proc/<pid>/stat). */
export function cpuMsOf(pid: number): number {
  return readStat(pid).cpuMs;
}

/** From one read of `/proc/<pid>/stat`: user plus system CPU (ms) and minor page faults so far. */
function readStat(pid: number): { cpuMs: number; minorFaults: number } {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which may hold spaces: minflt is the 8th, utime and stime the 12th and 13th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticksPerSecond = 100;
  return {
    cpuMs: ((Number(fields[11]) + Number(fields[12])) * 1000) / ticksPerSecond,
    minorFaults: Number(fields[7]),
  };
}

/**
 * What a process spent: CPU in ms, `total` from `/proc/<pid>/stat` (10 ms
 * ticks; what the targets are read against, as on every earlier day), and
 * the same split between the main thread (the JavaScript) and the other
 * threads (the compiler, GC helpers, the thread pool) from each thread's
 * `/proc/<pid>/task/<tid>/schedstat` (nanoseconds). The service's threads
 * live as long as it does; one that ended would drop out of the split.
 *
 * `faults`: the minor page faults it took. On this machine each costs about
 * 12.4 µs of the CPU above, and a lifecycle takes about one for every 4 kB
 * it allocates, because V8 gives its young generation's pages back while a
 * process allocates slowly (bench/MEASUREMENTS.md, "The young generation's
 * pages"): the count shows a change in bytes that CPU alone is too noisy to.
 */
export interface CpuSpent {
  total: number;
  main: number;
  others: number;
  faults: number;
}

function spentSoFar(pid: number): CpuSpent {
  const stat = readStat(pid);
  const spent = { total: stat.cpuMs, main: 0, others: 0, faults: stat.minorFaults };
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    let ns: number;
    try {
      ns = Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      continue; // the thread ended between the listing and the read
    }
    if (tid === String(pid)) spent.main += ns / 1e6;
    else spent.others += ns / 1e6;
  }
  return spent;
}

/** Starts counting what `pid` spends; the function returned gives what it spent since. */
export function cpuSince(pid: number): () => CpuSpent {
  const before = spentSoFar(pid);
  return () => {
    const now = spentSoFar(pid);
    return {
      total: now.total - before.total,
      main: now.main - before.main,
      others: now.others - before.others,
      faults: now.faults - before.faults,
    };
  };
}

/** `spent` as the benchmarks print it: "CPU 1.23 ms per container (main thread …, other threads …; … page faults)". */
export function spentText(spent: CpuSpent, unit: string, digits: number): string {
  return (
    `CPU ${spent.total.toFixed(digits)} ms ${unit} (main thread ${spent.main.toFixed(digits)}, ` +
    `other threads ${spent.others.toFixed(digits)}; ${spent.faults.toFixed(1)} page faults)`
  );
}

/** What `parts` spent together, per one of `n` units of work. */
export function cpuPer(n: number, ...parts: CpuSpent[]): CpuSpent {
  const sum = (key: keyof CpuSpent) => parts.reduce((s, p) => s + p[key], 0) / n;
  return { total: sum('total'), main: sum('main'), others: sum('others'), faults: sum('faults') };
}

/**
 * The RSS, MB, with two of its parts, from one read of `/proc/<pid>/status`:
 * pages of files (the executable's own code and data, the libraries), which
 * follow the binary and the page cache, and anonymous memory (V8's heap,
 * glibc's arenas, stacks), which follows the service's own work.
 */
export function rssPartsMb(pid: number): { total: number; file: number; anon: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const mb = (field: string) => {
    const kb = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status)?.[1];
    if (kb === undefined) throw new Error(`/proc/${pid}/status has no ${field} line`);
    return Math.round((Number(kb) / 1024) * 10) / 10;
  };
  return { total: mb('VmRSS'), file: mb('RssFile'), anon: mb('RssAnon') };
}

export function rssMb(pid: number): number {
  return rssPartsMb(pid).total;
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export function summary(values: number[]): string {
  const r = (v: number) => Math.round(v * 10) / 10;
  return `p50 ${r(percentile(values, 50))} ms, p95 ${r(percentile(values, 95))} ms, max ${r(Math.max(...values))} ms (n=${values.length})`;
}

/** One line per target of the performance issue, `met` or `MISSED`, as each benchmark ends. */
export function printTargets(checks: readonly (readonly [what: string, met: boolean])[]): void {
  for (const [what, met] of checks) process.stdout.write(`  ${met ? 'met   ' : 'MISSED'} ${what}\n`);
}

/**
 * Sentry as hosts have it, on, with a local stand-in taking its events: the
 * service's environment for it, and what the service reported. A report
 * means something went wrong during the run, so its figures are not a
 * normal host's; the benchmark prints it.
 */
export async function sentryAsOnHosts() {
  const standIn = await startSentryStandIn();
  return {
    env: { USE_PROD_SENTRY: 'true', SENTRY_DSN: standIn.dsn },
    reportsLine(): string | undefined {
      const reports = standIn.events().map((e) => e.exception?.values?.[0]?.value ?? '?');
      return reports.length > 0 ? `errors the service reported to Sentry: ${reports.join('; ')}` : undefined;
    },
    close: () => standIn.close(),
  };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export const docker = new Docker();
const image = process.env['HS_TEST_IMAGE'] ?? 'hs-test:latest';

/** Starts one test container with 32262/tcp published on 127.0.0.1; returns its id. */
export async function startOne(): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    const c = await docker.createContainer({
      Image: image,
      Cmd: ['sleep', '3600'],
      ExposedPorts: { '32262/tcp': {} },
      HostConfig: { PortBindings: { '32262/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] } },
    });
    try {
      await c.start();
      return c.id;
    } catch (error) {
      await c.remove({ force: true }).catch(() => {});
      // Another engine on this machine may hold the port this one picked.
      if (!String(error).includes('address already in use') || attempt >= 20) throw error;
    }
  }
}
