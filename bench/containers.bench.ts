/**
 * Container lifecycle benchmark (issue: container lifecycle): latency from the
 * engine's `start` event to a complete `tty` file, batch wall time with and
 * without the service, RSS idle / with 100 containers, and RSS growth over
 * many lifecycles. Runs against the private engine of `make bench`.
 *
 * Beside each latency, the service's own CPU per container lifecycle (start,
 * files, die, clean-up; user + system from /proc/<pid>/stat), far steadier
 * than latency on a shared machine, and the same split between the main
 * thread (the JavaScript) and the other threads (V8's compiler and GC
 * helpers, the thread pool), from each thread's schedstat, with the page
 * faults it took (which follow its bytes: `CpuSpent` in ./lib.ts); a batch's
 * figure includes one full GC (`serviceBatch`). The batch is
 * measured twice: on a fresh service, and again after the lifecycles of the
 * RSS check, when V8 has compiled much of what a lifecycle runs (its
 * optimizing compiler alone took about a sixth of the CPU of the first 300
 * lifecycles, in a `perf` profile, and still about 0.7 ms a lifecycle at the
 * 1,000th: bench/MEASUREMENTS.md, "The start path inside the service").
 * One at a time, a lifecycle takes most of a second of the engine's time,
 * and the service's idle work (re-lists, heartbeat) goes on through it: its
 * rate with no container, read for a minute before, is shown beside. Both
 * the floor and the service are first left to finish their start (SETTLE_MS).
 * Then as many again with the webserver's DPI request for each container
 * once its `tty` is there: a host's lifecycle, whose `DPI` and `.ready` are
 * written and then dealt with at its death.
 *
 * The service runs with Sentry on, as hosts do, against a local stand-in.
 *
 * Before the service, the same figures for bench/floorReactor.ts, a minimal
 * Node implementation (inspect, two fsynced files, no clean-up), measured the
 * same way in the same run: a yardstick, not a limit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import type { Readable } from 'node:stream';
import {
  cpuPer,
  cpuSince,
  type CpuSpent,
  rssMb,
  rssPartsMb,
  repoRoot,
  sleep,
  startBenchService,
  summary,
  type BenchService,
  docker,
  percentile,
  printTargets,
  startOne,
  spentText,
  sentryAsOnHosts,
} from './lib.js';
import { pinnedAgent, send } from '../test/support/api.js';
import { readFolder } from '../test/support/mappings.js';
import { TEST_AUTH_SECRET } from '../test/support/service.js';

const BATCH = Number(process.env['BENCH_BATCH'] ?? 100);
const LIFECYCLES = Number(process.env['BENCH_LIFECYCLES'] ?? 1000);
/**
 * Lifecycles one at a time: 60 since 2026-12-07, 20 before. On a quiet
 * engine the p50 of 60 still moved 0.2-0.4 ms between runs of one build,
 * about the distance to its target, and 20 resolve less; the 40 more take
 * 10-20 s on such a day.
 */
const ONE_AT_A_TIME = Number(process.env['BENCH_ONE_AT_A_TIME'] ?? 60);

async function removeAll(): Promise<void> {
  const all = await docker.listContainers({ all: true });
  for (let i = 0; i < all.length; i += 16) {
    await Promise.all(all.slice(i, i + 16).map((c) => docker.getContainer(c.Id).remove({ force: true })));
  }
}

/** When this benchmark read each start event off the engine's stream (epoch ms), by container id. */
const startEventsRead = new Map<string, number>();

/** Engine start-event times (ms, from timeNano) by container id. */
async function watchStartEvents(): Promise<Map<string, number>> {
  const starts = new Map<string, number>();
  const stream = (await docker.getEvents({
    filters: { type: ['container'], event: ['start'] },
  })) as unknown as Readable;
  readline.createInterface({ input: stream }).on('line', (line) => {
    const event = JSON.parse(line) as { id: string; timeNano: number };
    starts.set(event.id, event.timeNano / 1e6);
    startEventsRead.set(event.id, Date.now());
  });
  return starts;
}

/**
 * A bench/*.ts helper in its own process; resolves once it prints `readyLine`.
 * `realTime` runs it under SCHED_FIFO (`chrt`; the benchmark runs as root,
 * as the private engine does). The `tty` watcher needs it: at a start it
 * waits for a core behind the engine's processes and the service, and
 * reads the file's landing late by that wait. Four watchers side by side
 * against a service that stamped each rename itself (2026-12-06): at normal
 * priority 0.33–0.47 ms late at the median and 2.5–2.7 ms at p90; under
 * SCHED_FIFO 0.3 ms early, woken inside the rename before the service's
 * own stamp (bench/MEASUREMENTS.md, "Where start → tty goes").
 */
async function helper(
  script: string,
  arg: string,
  readyLine: string,
  onLine: (line: string) => void,
  { realTime = false } = {},
) {
  const node = [process.execPath, '--import', 'tsx', path.join(repoRoot, 'bench', script), arg];
  const [command, ...args] = realTime ? ['chrt', '--fifo', '50', ...node] : node;
  const child = spawn(command!, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  process.on('exit', () => child.kill());
  await new Promise<void>((resolve, reject) => {
    child.on('exit', (code, signal) =>
      reject(new Error(`${script} ended before it was ready (${code ?? signal})`)),
    );
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line === readyLine) resolve();
      else onLine(line);
    });
  });
  return child;
}

async function watchTtyFiles(
  mappings: string,
): Promise<{ seen: Map<string, number>; watcher: ChildProcess }> {
  const seen = new Map<string, number>();
  const watcher = await helper(
    'ttyWatcher.ts',
    mappings,
    'watching',
    (line) => {
      const [id, at] = line.split(' ');
      seen.set(id!, Number(at));
    },
    { realTime: true },
  );
  return { seen, watcher };
}

/** Waits until no container folder is left (the clean-up after a die is part of a lifecycle), then a little more. */
async function foldersGone(mappings: string): Promise<void> {
  await waitUntil(
    'folders removed',
    () => fs.readdirSync(mappings).filter((f) => !f.startsWith('.')).length === 0,
  );
  await sleep(200);
}

/**
 * `start` → `tty` for ONE_AT_A_TIME containers started one after the other,
 * the CPU `pid` used per lifecycle, and the wall time a lifecycle took (the
 * service's idle work, `idleCpuPerSecond`, runs on through it).
 */
async function oneAtATime(
  starts: Map<string, number>,
  ttys: Map<string, number>,
  pid: number,
  /** The service's mapping root, to wait for its clean-up; the floor has none. */
  mappings: string | undefined,
  /** What the webserver does once the container's `tty` is there (a host's lifecycle), if anything. */
  onceReady?: (containerId: string) => Promise<void>,
): Promise<{ latencies: number[]; cpuPerContainer: CpuSpent; msPerContainer: number }> {
  const latencies: number[] = [];
  const n = ONE_AT_A_TIME;
  const began = performance.now();
  const spent = cpuSince(pid);
  for (let i = 0; i < n; i++) {
    const id = await startOne();
    await waitUntil('tty', () => ttys.has(id) && starts.has(id));
    latencies.push(ttys.get(id)! - starts.get(id)!);
    if (onceReady !== undefined) await onceReady(id);
    await docker.getContainer(id).remove({ force: true });
  }
  if (mappings !== undefined) await foldersGone(mappings);
  else await sleep(200);
  return { latencies, cpuPerContainer: cpuPer(n, spent()), msPerContainer: (performance.now() - began) / n };
}

/**
 * How long the floor and the service are left alone after their start, before
 * anything is measured: a process a few seconds old is still finishing its
 * start (V8 compiles what the start ran, and its memory reducer makes a full
 * GC about 8 s in). A host's service is long past that when a container
 * starts. Until 2026-12-06 the one-at-a-time figures began a second after
 * the start and held that work: about twice the CPU (bench/MEASUREMENTS.md,
 * "One at a time, once the start is over").
 */
const SETTLE_MS = 15_000;
const IDLE_MS = 60_000;

/**
 * What `pid` spends a second with no container: the re-lists (every 10 s) and
 * the heartbeat (every 60 s, the default; in development mode the webserver's
 * stand-in that answers it runs in the same process). The one-at-a-time
 * figure holds this for every second a lifecycle took, so it is shown beside it.
 */
async function idleCpuPerSecond(pid: number): Promise<CpuSpent> {
  const spent = cpuSince(pid);
  await sleep(IDLE_MS);
  return cpuPer(IDLE_MS / 1000, spent());
}

/**
 * The webserver's DPI request for a container once its `tty` is there, as
 * on a host: its `DPI` and `.ready` are then written, and dealt with at its
 * death. On one kept-alive connection, so that the figure is the
 * container's work and not a TLS handshake's (bench/api.bench.ts has those).
 */
function dpiSender(service: BenchService): (containerId: string) => Promise<void> {
  const agent = pinnedAgent(path.join(service.root, 'fractalprivate'), { keepAlive: true, maxSockets: 1 });
  return async (containerId) => {
    const body = {
      auth_secret: TEST_AUTH_SECRET,
      host_port: readFolder(service.mappings, containerId)?.hostPort,
      dpi: 192,
    };
    const res = await send(agent, service.port, 'PUT', '/set_container_dpi', body);
    if (res.status !== 200) throw new Error(`a DPI request was answered ${res.status}: ${res.body}`);
  };
}

/** `start` → `tty` for a batch started at once, the batch's wall time, and the CPU `pid` used on the starts. */
async function allAtOnce(starts: Map<string, number>, ttys: Map<string, number>, pid: number) {
  const spent = cpuSince(pid);
  const batch = await batchWallMs(BATCH);
  await waitUntil('every tty', () => batch.ids.every((id) => ttys.has(id) && starts.has(id)));
  await sleep(200);
  return {
    ms: batch.ms,
    ids: batch.ids,
    latencies: batch.ids.map((id) => ttys.get(id)! - starts.get(id)!),
    startCpu: spent(),
  };
}

/**
 * The service's log lines about each container of a batch that took more than
 * a second to its `tty`, so that a slow start shows its cause. One took 10.2 s
 * (a re-list had taken the just-started container for dead; see LIST_LAG_MS
 * in machines/host/reconciliation.ts).
 */
function explainSlowStarts(
  batch: { ids: string[]; latencies: number[] },
  lines: readonly Record<string, unknown>[],
  starts: ReadonlyMap<string, number>,
): void {
  batch.ids.forEach((id, i) => {
    const ms = batch.latencies[i]!;
    if (ms <= 1000) return;
    // Times after the engine's start event: whether the engine was late to tell of the
    // start (its event stream, read here as the service reads its own) or the service was slow.
    const start = starts.get(id)!;
    const after = (at: number) => `+${Math.round(at - start)} ms`;
    console.log(
      `  ${id.slice(0, 12)} took ${Math.round(ms)} ms; its start event was read here at ` +
        `${after(startEventsRead.get(id) ?? NaN)}; the service's lines about it:`,
    );
    for (const line of lines.filter((l) => l['containerId'] === id))
      console.log(`    ${after(line['time'] as number)} ${String(line['msg'])}`);
  });
}

async function floorFigures(starts: Map<string, number>) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'hs-floor-'));
  const { seen, watcher } = await watchTtyFiles(root);
  const reactor = await helper('floorReactor.ts', root, 'ready', () => {});
  try {
    await sleep(SETTLE_MS);
    const single = await oneAtATime(starts, seen, reactor.pid!, undefined);
    const batch = await allAtOnce(starts, seen, reactor.pid!);
    return { single, batch: batch.latencies, batchCpuPerContainer: cpuPer(BATCH, batch.startCpu) };
  } finally {
    reactor.kill();
    watcher.kill();
    await removeAll();
    fs.rmSync(root, { recursive: true, force: true });
  }
}

/** Heap used after each GC the benchmark asked for, MB: a leak shows there before RSS. */
const heapAfterGc: number[] = [];
/** At each of those GCs, the RSS as found, and as the service read it in the GC's own tick, MB. */
const rssBeforeGc: number[] = [];
const rssInGcTick: number[] = [];
/** The RSS gcRss returns, in its file-backed and anonymous parts. */
const rssParts: { file: number; anon: number }[] = [];

/**
 * The RSS a second after a full GC, MB: what the service holds once idle. Read
 * from /proc then, not the figure the service logs from its GC handler: V8's
 * background threads give back what the GC freed only after that. The
 * handler's figure was up to 12 MB higher in runs of 20 containers and 300
 * lifecycles, and 2.7 MB higher after the full run's 1,000.
 */
async function gcRss(service: BenchService): Promise<number> {
  const pid = service.child.pid!;
  const before = service.lines.length;
  rssBeforeGc.push(rssMb(pid));
  service.child.kill('SIGUSR2');
  for (let i = 0; i < 100; i++) {
    const line = service.lines.slice(before).find((l) => l['msg'] === 'memory after gc');
    if (line) {
      heapAfterGc.push(Math.round((line['heapUsedMb'] as number) * 10) / 10);
      rssInGcTick.push(Math.round((line['rssMb'] as number) * 10) / 10);
      await sleep(1000);
      const rss = rssPartsMb(pid);
      rssParts.push(rss);
      return rss.total;
    }
    await sleep(50);
  }
  throw new Error('the service did not report its memory');
}

/**
 * A batch of BATCH on the service: `start` → `tty`, the RSS with the batch
 * tracked, then every container removed and its folder gone, with the CPU
 * of all of it per container. The full GC of the RSS reading is inside the
 * window: the GC that collects a batch's garbage is part of what the batch
 * costs. Left out (as until 2026-12-05), the figure read as if the garbage
 * were free: a batch started a second after a forced GC cost 9.0-10.4 ms a
 * lifecycle, one started 3 s after the previous batch with no GC between
 * 11.1-13.8 ms (the same process, in turn), the difference mostly on V8's
 * helper threads. One full GC a batch is what V8 does by itself: with
 * `--trace-gc`, batches of 100 ran 0-2 mark-compacts each.
 */
async function serviceBatch(service: BenchService, starts: Map<string, number>, ttys: Map<string, number>) {
  const spent = cpuSince(service.child.pid!);
  const batch = await allAtOnce(starts, ttys, service.child.pid!);
  const rss = await gcRss(service);
  await removeAll();
  await foldersGone(service.mappings);
  return { ...batch, rss, cpuPerContainer: cpuPer(BATCH, spent()) };
}

async function waitUntil(what: string, check: () => boolean, timeoutMs = 300_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

async function batchWallMs(n: number): Promise<{ ids: string[]; ms: number }> {
  const t0 = performance.now();
  const ids = await Promise.all(Array.from({ length: n }, startOne));
  return { ids, ms: performance.now() - t0 };
}

async function main() {
  await removeAll();
  const starts = await watchStartEvents();

  // The engine alone first, so the service's figures are not flattered by a warmed-up engine.
  const alone = await batchWallMs(BATCH);
  await removeAll();
  const floor = await floorFigures(starts);

  // Its client holds 1.3-2.5 MB when idle: the memory targets are read with it.
  const sentry = await sentryAsOnHosts();
  const service = await startBenchService(
    { HOST_SERVICE_RELIST_INTERVAL_MS: '10000', WEBSERVER_AUTH_SECRET: TEST_AUTH_SECRET, ...sentry.env },
    ['--expose-gc'],
  );
  await service.waitFor('engine connected');
  const { seen: ttys } = await watchTtyFiles(service.mappings);
  await sleep(500);
  const idleRss = await gcRss(service);

  const pid = service.child.pid!;
  await sleep(SETTLE_MS);
  const idle = await idleCpuPerSecond(pid);
  const single = await oneAtATime(starts, ttys, pid, service.mappings);
  const withDpi = await oneAtATime(starts, ttys, pid, service.mappings, dpiSender(service));
  const withService = await serviceBatch(service, starts, ttys);
  const batch = withService.latencies;

  // Leak check: lifecycles in rounds of 20 concurrent containers.
  let done = 0;
  let rssAfter100 = 0;
  while (done < LIFECYCLES) {
    const ids = await Promise.all(Array.from({ length: 20 }, startOne));
    await waitUntil('ttys', () => ids.every((id) => ttys.has(id)));
    await Promise.all(ids.map((id) => docker.getContainer(id).remove({ force: true })));
    done += ids.length;
    if (done === 100) {
      await sleep(1000);
      rssAfter100 = await gcRss(service);
    }
  }
  await sleep(2000);
  const rssAfterAll = await gcRss(service);
  // The same batch again, now that the service has run every path many times
  // (V8 has compiled them): what a host that has been up a while spends.
  const warmed = await serviceBatch(service, starts, ttys);
  // One at a time again, every path having run many times: the first figure holds V8's tier-up too.
  const warmedSingle = await oneAtATime(starts, ttys, pid, service.mappings);
  const exitCode = await service.stop();

  const pct = (a: number, b: number) => `${Math.round((a / b - 1) * 1000) / 10}%`;
  const cpu = (spent: CpuSpent) => spentText(spent, 'per container', 2);
  console.log(
    `start event → tty complete, one container at a time: ${summary(single.latencies)}; ${cpu(single.cpuPerContainer)} (start to clean-up)`,
  );
  const idleShare = (rate: number) => ((rate * single.msPerContainer) / 1000).toFixed(2);
  console.log(
    `  of which idle work ≈ ${idleShare(idle.total)} ms (main thread ${idleShare(idle.main)}): a lifecycle took ` +
      `${single.msPerContainer.toFixed(0)} ms here, and the service spends ${idle.total.toFixed(2)} ms/s ` +
      `(main thread ${idle.main.toFixed(2)}) with no container (re-lists, heartbeat; ${IDLE_MS / 1000} s before)`,
  );
  console.log(
    `  the same after ${LIFECYCLES} lifecycles and the batches: ${summary(warmedSingle.latencies)}; ${cpu(warmedSingle.cpuPerContainer)}`,
  );
  console.log(
    `  a host's lifecycle, one at a time (start, one DPI request on a kept-alive connection, death): ${summary(withDpi.latencies)}; ${cpu(withDpi.cpuPerContainer)}`,
  );
  console.log(
    `  a minimal Node implementation (bench/floorReactor.ts), one at a time: ${summary(floor.single.latencies)}; ${cpu(floor.single.cpuPerContainer)} (no clean-up)`,
  );
  console.log(
    `start event → tty complete, ${BATCH} concurrent: ${summary(batch)}; ${cpu(withService.cpuPerContainer)} (start, files, die, clean-up, one full GC; the original's, measured beside us: bench/MEASUREMENTS.md, "Beside the original")`,
  );
  explainSlowStarts(withService, service.lines, starts);
  console.log(
    `  the same after ${LIFECYCLES} lifecycles: ${summary(warmed.latencies)}; ${cpu(warmed.cpuPerContainer)}`,
  );
  explainSlowStarts(warmed, service.lines, starts);
  console.log(
    `  a minimal Node implementation, ${BATCH} concurrent: ${summary(floor.batch)}; ${cpu(floor.batchCpuPerContainer)} (start and files only)`,
  );
  console.log(
    `batch of ${BATCH} wall time: engine alone ${Math.round(alone.ms)} ms, with the service ${Math.round(withService.ms)} ms (${pct(withService.ms, alone.ms)})`,
  );
  console.log(
    `RSS a second after a GC: idle ${idleRss} MB, ${BATCH} containers tracked ${withService.rss} MB (after the lifecycles ${warmed.rss} MB)`,
  );
  console.log(
    `RSS a second after a GC over ${LIFECYCLES} lifecycles: after 100 ${rssAfter100} MB, after ${LIFECYCLES} ${rssAfterAll} MB (${pct(rssAfterAll, rssAfter100)})`,
  );
  console.log(`at each of those GCs: heap used after it ${heapAfterGc.join(', ')} MB;`);
  console.log(`  RSS before it ${rssBeforeGc.join(', ')} MB, in its own tick ${rssInGcTick.join(', ')} MB`);
  console.log(
    `  the RSS a second after each: file-backed ${rssParts.map((p) => p.file).join(', ')} MB, anonymous ${rssParts.map((p) => p.anon).join(', ')} MB`,
  );
  console.log(`service exit code ${exitCode}`);
  const reports = sentry.reportsLine();
  if (reports !== undefined) console.log(reports);
  await sentry.close();

  // The performance issue's targets. The lifecycles of the leak check run after the batch is removed,
  // so the last RSS is a warmed service's with no container tracked: idle, as a host is most of its life.
  const checks = [
    ['one at a time p50 <= 2.3 ms', percentile(single.latencies, 50) <= 2.3],
    ['one at a time p95 <= 4.2 ms', percentile(single.latencies, 95) <= 4.2],
    [`${BATCH} at once p50 <= 10 ms (fresh)`, percentile(batch, 50) <= 10],
    [`${BATCH} at once p95 <= 44 ms (fresh)`, percentile(batch, 95) <= 44],
    [`${BATCH} at once p50 <= 10 ms (after the lifecycles)`, percentile(warmed.latencies, 50) <= 10],
    [`${BATCH} at once p95 <= 44 ms (after the lifecycles)`, percentile(warmed.latencies, 95) <= 44],
    ['CPU <= 1.9 ms per container, one at a time', single.cpuPerContainer.total <= 1.9],
    [
      `CPU <= 1.9 ms per container, one at a time (after the lifecycles)`,
      warmedSingle.cpuPerContainer.total <= 1.9,
    ],
    [`CPU <= 1.9 ms per container, ${BATCH} at once (fresh)`, withService.cpuPerContainer.total <= 1.9],
    [
      `CPU <= 1.9 ms per container, ${BATCH} at once (after the lifecycles)`,
      warmed.cpuPerContainer.total <= 1.9,
    ],
    ['RSS idle <= 70 MB (fresh)', idleRss <= 70],
    [`RSS <= 75 MB with ${BATCH} containers`, withService.rss <= 75],
    [`RSS <= 75 MB with ${BATCH} containers (after the lifecycles)`, warmed.rss <= 75],
    [`RSS idle <= 70 MB after ${LIFECYCLES} lifecycles`, rssAfterAll <= 70],
    [`RSS flat (±10%) from 100 to ${LIFECYCLES} lifecycles`, Math.abs(rssAfterAll / rssAfter100 - 1) <= 0.1],
  ] as const;
  printTargets(checks);
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
