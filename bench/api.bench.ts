/**
 * The DPI endpoint over TLS with 100 containers tracked on the private
 * engine: one keep-alive connection (1000 requests), 50 concurrent keep-alive
 * clients (5000 requests), and a new TLS connection per request (100
 * requests, no session resumption). Every answer must be a 200. Each
 * container's DPI goes back and forth between two values, so after the
 * warm-up each changing request shows a value file written before (a link
 * renamed over `DPI`, src/resources/mappingFolders.ts) and writes no byte.
 *
 * Beside every latency, the service's own CPU per request (user + system,
 * from /proc/<pid>/stat): far steadier than latency on a shared machine; and
 * its split between the main thread and the other threads (TLS, V8's
 * compiler and GC helpers, the thread pool's file calls), from each thread's
 * schedstat, with the page faults it took, as in the containers benchmark.
 * Sentry is on, as on hosts, against a local stand-in.
 *
 * Then, in the same run, what a minimal Node implementation does
 * (bench/bareHttps.ts, its own process, the service's certificate): a fixed
 * answer, and the same with `DPI` written durably each time (temp file,
 * fsync, rename, as the service did before its value files); and the two
 * files written by this process with plain blocking calls. They are
 * yardsticks of plain Node and of this disk, not limits: the service's
 * figures above the fixed answer are its own code.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import readline from 'node:readline';
import { apiClient, send } from '../test/support/api.js';
import { writeDurablySync } from './durableWrite.js';
import {
  cpuPer,
  cpuSince,
  type CpuSpent,
  printTargets,
  repoRoot,
  sentryAsOnHosts,
  spentText,
} from './lib.js';
import { publishedPort, removeAllContainers, startContainer } from '../test/support/engine.js';
import { readFolder } from '../test/support/mappings.js';
import { startService, TEST_AUTH_SECRET } from '../test/support/service.js';
import { waitFor } from '../test/support/wait.js';

const CONTAINERS = 100;

interface Figures {
  p50: number;
  p99: number;
  perSecond: number;
  /** CPU of the answering process per request, ms; undefined for the in-process disk floor. */
  cpuPerRequest?: CpuSpent;
}

function figures(latencies: number[], wallMs: number): Figures {
  const sorted = [...latencies].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
  return { p50: at(0.5), p99: at(0.99), perSecond: (latencies.length / wallMs) * 1000 };
}

/** Where requests go: a port, and the process that answers them (for its CPU). */
interface Target {
  port: number;
  pid: number;
}

async function timedDpi(agent: https.Agent, target: Target, hostPort: number, dpi: number) {
  const started = performance.now();
  const res = await send(agent, target.port, 'PUT', '/set_container_dpi', {
    auth_secret: TEST_AUTH_SECRET,
    host_port: hostPort,
    dpi,
  });
  if (res.status !== 200) throw new Error(`DPI request answered ${res.status}: ${res.body}`);
  return performance.now() - started;
}

/** The DPI each host port was last sent, per target (the bare server keeps no state between runs). */
const lastDpi = new Map<string, number>();

/** What each request asks: 96 and 144 in turn, the DPI the container has, or one it never had. */
type DpiValues = 'alternating' | 'unchanged' | 'new';

/** A DPI no request of the run has sent yet: every one needs a value file written. */
let newDpi = 200;

function nextDpi(values: DpiValues, last: number | undefined): number {
  if (values === 'new') return ++newDpi;
  if (values === 'unchanged' && last !== undefined) return last;
  return last === 96 ? 144 : 96;
}

/**
 * `clients` loops side by side, each on its own containers, `perClient`
 * requests each, each asking its container for a DPI as `values` says.
 */
async function run(
  agent: https.Agent,
  target: Target,
  ports: number[],
  clients: number,
  perClient: number,
  values: DpiValues = 'alternating',
): Promise<Figures> {
  const latencies: number[] = [];
  const spent = cpuSince(target.pid);
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async (_, client) => {
      const own = ports.filter((_, i) => i % clients === client);
      for (let n = 0; n < perClient; n++) {
        const hostPort = own[n % own.length]!;
        const key = `${target.port}:${hostPort}`;
        const dpi = nextDpi(values, lastDpi.get(key));
        lastDpi.set(key, dpi);
        latencies.push(await timedDpi(agent, target, hostPort, dpi));
      }
    }),
  );
  const result = figures(latencies, performance.now() - started);
  result.cpuPerRequest = cpuPer(latencies.length, spent());
  return result;
}

/** The loads of the benchmark against one target. */
async function loads(target: Target, ports: number[], ca: Buffer) {
  const tls = { ca, checkServerIdentity: () => undefined };
  const keepAlive = new https.Agent({ ...tls, keepAlive: true, maxSockets: 1 });
  // Warm-up, not measured: every container answered 20 times, so that what is measured is the
  // steady state of a long-running daemon with its request path compiled. With 100 requests of
  // warm-up, the first 1,000 measured cost 25-40% more CPU each than the next 10,000.
  await run(keepAlive, target, ports, 1, 2000);
  const sequential = await run(keepAlive, target, ports, 1, 1000);
  const unchanged = await run(keepAlive, target, ports, 1, 1000, 'unchanged');

  const pool = new https.Agent({ ...tls, keepAlive: true, maxSockets: 50 });
  const concurrent = await run(pool, target, ports, 50, 100);
  pool.destroy();

  // No session cache: each request pays a full handshake, as a fresh webserver connection does.
  const fresh = new https.Agent({ ...tls, keepAlive: false, maxCachedSessions: 0 });
  const newConnections = await run(fresh, target, ports, 1, 100);
  fresh.destroy();

  // Last: the containers' value files are then all new ones, and a run after this one would
  // write 96 and 144 again (200 writes, more than the 1% its p99 is made of).
  const newValues = await run(keepAlive, target, ports, 1, 1000, 'new');
  keepAlive.destroy();
  return { sequential, unchanged, newValues, concurrent, newConnections };
}

/** bench/bareHttps.ts in its own process, with the service's key and certificate. */
async function startBareHttps(privateDir: string, mode: string): Promise<{ child: ChildProcess } & Target> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      path.join(repoRoot, 'bench/bareHttps.ts'),
      path.join(privateDir, 'key.pem'),
      path.join(privateDir, 'cert.pem'),
      mode,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  process.on('exit', () => child.kill());
  const port = await new Promise<number>((resolve) => {
    readline.createInterface({ input: child.stdout! }).on('line', (text) => {
      const match = /^listening (\d+)$/.exec(text);
      if (match) resolve(Number(match[1]));
    });
  });
  return { child, port, pid: child.pid! };
}

/**
 * Two files, each written to a temp file, fsynced, closed and renamed into
 * place, `n` times; with `pauseMs` between rounds, as requests leave the disk
 * idle between writes (on this VM's disk that alone makes each round slower).
 */
async function diskFloor(folder: string, n: number, pauseMs: number): Promise<Figures> {
  fs.mkdirSync(folder, { recursive: true });
  const latencies: number[] = [];
  for (let i = 0; i < n; i++) {
    if (pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
    const t0 = performance.now();
    for (const [name, content] of [
      ['DPI', String(96 + (i % 4) * 48)],
      ['.ready', '.ready'],
    ] as const) {
      writeDurablySync(path.join(folder, name), content);
    }
    latencies.push(performance.now() - t0);
  }
  // The rate counts the writing time only, not the pauses.
  return figures(
    latencies,
    latencies.reduce((a, b) => a + b, 0),
  );
}

const line = (name: string, f: Figures, original: string | undefined) =>
  `  ${name.padEnd(34)} p50 ${f.p50.toFixed(2).padStart(6)} ms  p99 ${f.p99.toFixed(2).padStart(6)} ms  ` +
  `${f.perSecond.toFixed(0).padStart(5)} req/s` +
  (f.cpuPerRequest === undefined ? '' : `  ${spentText(f.cpuPerRequest, 'per request', 3)}`) +
  (original === undefined ? '' : `   (original: ${original})`);

async function main(): Promise<void> {
  await removeAllContainers();
  const sentry = await sentryAsOnHosts();
  const service = await startService({ env: { LOG_LEVEL: 'info', ...sentry.env } });
  try {
    const containers = await Promise.all(Array.from({ length: CONTAINERS }, () => startContainer()));
    await waitFor(
      `${CONTAINERS} complete folders`,
      () => containers.every((c) => readFolder(service.mappings, c.id)?.tty !== undefined),
      180_000,
      200,
    );
    const ports: number[] = [];
    for (const c of containers) ports.push(await publishedPort(c.id));
    const client = await apiClient(service);
    client.close();
    const ca = fs.readFileSync(path.join(service.privateDir, 'cert.pem'));

    const ours = await loads({ port: service.port, pid: service.process.pid! }, ports, ca);

    // BENCH_FLOORS=0: the service's figures only, for before/after runs in turn.
    const withFloors = process.env['BENCH_FLOORS'] !== '0';
    const bareFloors = async () => {
      const bare = await startBareHttps(service.privateDir, 'fixed');
      const fixed = await loads(bare, ports, ca);
      bare.child.kill();
      const writing = await startBareHttps(
        service.privateDir,
        `files:${path.join(service.root, 'bare-folders')}`,
      );
      const files = await loads(writing, ports, ca);
      writing.child.kill();
      return { fixed, files };
    };
    const bare = withFloors ? await bareFloors() : undefined;
    const floor = withFloors ? await diskFloor(path.join(service.root, 'disk-floor'), 1000, 0) : undefined;
    const pausedFloor = withFloors
      ? await diskFloor(path.join(service.root, 'disk-floor'), 1000, 1)
      : undefined;

    process.stdout.write(`DPI endpoint over TLS, ${CONTAINERS} containers tracked, every write fsynced\n`);
    const block = (
      title: string,
      f: Awaited<ReturnType<typeof loads>>,
      originals: Record<string, string>,
    ) => {
      process.stdout.write(`${title}\n`);
      process.stdout.write(`${line('1 keep-alive connection, 1000 req', f.sequential, originals['seq'])}\n`);
      process.stdout.write(`${line('  the same, DPI values unchanged', f.unchanged, originals['same'])}\n`);
      process.stdout.write(
        `${line('  the same, a DPI never sent before', f.newValues, originals['new value'])}\n`,
      );
      process.stdout.write(`${line('50 keep-alive clients, 5000 req', f.concurrent, originals['conc'])}\n`);
      process.stdout.write(
        `${line('new TLS connection each, 100 req', f.newConnections, originals['new'])}\n`,
      );
    };
    block('the service', ours, {
      seq: 'p50 0.7-0.8, p99 1.8-2.2, 1170-1330/s, CPU 0.31-0.34 ms',
      same: '-',
      'new value': 'as any changing DPI: it writes in place',
      conc: 'p50 25-27, p99 34-37, 1815-1990/s, CPU 0.27-0.30 ms',
      new: 'p50 6.7-7.7 (RSA-4096)',
    });
    if (bare !== undefined && floor !== undefined && pausedFloor !== undefined) {
      block('a minimal Node implementation (bench/bareHttps.ts): fixed answer, no files', bare.fixed, {});
      block('a minimal Node implementation: DPI written durably, .ready once', bare.files, {});
      process.stdout.write('the files alone, written by this process with blocking calls\n');
      process.stdout.write(`${line('DPI and .ready each round, 1000x', floor, 'same disk, no HTTP')}\n`);
      process.stdout.write(
        `${line('the same, 1 ms pause between rounds', pausedFloor, 'pauses not counted')}\n`,
      );
    }
    const { sequential, concurrent, newConnections } = ours;
    const checks = [
      ['1 connection p50 <= 0.8 ms', sequential.p50 <= 0.8],
      ['1 connection p99 <= 2.2 ms', sequential.p99 <= 2.2],
      ['1 connection >= 1300 req/s', sequential.perSecond >= 1300],
      ['1 connection CPU <= 0.34 ms/req', sequential.cpuPerRequest!.total <= 0.34],
      ['50 clients p99 <= 34 ms', concurrent.p99 <= 34],
      ['50 clients >= 2000 req/s', concurrent.perSecond >= 2000],
      ['50 clients CPU <= 0.30 ms/req', concurrent.cpuPerRequest!.total <= 0.3],
      ['new connection p50 <= 2.7 ms', newConnections.p50 <= 2.7],
    ] as const;
    printTargets(checks);
    const reports = sentry.reportsLine();
    if (reports !== undefined) process.stdout.write(`${reports}\n`);
  } finally {
    await removeAllContainers();
    await service.stop();
    await sentry.close();
  }
}

await main();
