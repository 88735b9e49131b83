/**
 * Restart benchmark: with 100 containers running, stop the service cleanly
 * (SIGTERM: the containers are kept as they are) and start it again, timing
 * the stop and the start to every container adopted; then the same after
 * SIGKILL, with the time to the API serving too (adoption is seen through
 * POST /state_snapshot). Then a few kill-during-churn trials, counting
 * duplicate TTYs and leaked folders.
 */
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import {
  cpuMsOf,
  printTimeline,
  rssMb,
  sleep,
  startBenchService,
  type BenchService,
  docker,
  startOne,
} from './lib.js';

const N = Number(process.env['BENCH_CONTAINERS'] ?? 100);
const TRIALS = Number(process.env['BENCH_TRIALS'] ?? 5);
const SECRET = 'bench-secret';

async function inBatches<T>(n: number, size: number, task: () => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i += size)
    out.push(...(await Promise.all(Array.from({ length: Math.min(size, n - i) }, task))));
  return out;
}

function snapshot(service: BenchService): Promise<{ containers: { state: string }[] } | undefined> {
  const certFile = path.join(service.root, 'fractalprivate/cert.pem');
  if (!fs.existsSync(certFile)) return Promise.resolve(undefined);
  const body = JSON.stringify({ auth_secret: SECRET });
  return new Promise((resolve) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port: service.port,
        path: '/state_snapshot',
        method: 'POST',
        ca: fs.readFileSync(certFile),
        checkServerIdentity: () => undefined,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve(res.statusCode === 200 ? JSON.parse(Buffer.concat(chunks).toString()) : undefined),
        );
      },
    );
    req.on('error', () => resolve(undefined));
    req.end(body);
  });
}

async function folderState(mappings: string) {
  const running = (await docker.listContainers()).map((c) => c.Id).sort();
  // Hidden entries are the service's own folders made ahead of starts, not containers'.
  const folders = fs.existsSync(mappings)
    ? fs
        .readdirSync(mappings)
        .filter((name) => !name.startsWith('.'))
        .sort()
    : [];
  const ttys = folders.map((id) => {
    try {
      return fs.readFileSync(path.join(mappings, id, 'tty'), 'utf8');
    } catch {
      return undefined;
    }
  });
  const complete = ttys.every((t) => t !== undefined);
  return {
    matches: complete && JSON.stringify(running) === JSON.stringify(folders),
    duplicates: ttys.length - new Set(ttys).size,
    leaked: folders.filter((f) => !running.includes(f)).length,
  };
}

async function main() {
  const env = { WEBSERVER_AUTH_SECRET: SECRET, HOST_SERVICE_RELIST_INTERVAL_MS: '2000' };
  const all = await docker.listContainers({ all: true });
  await Promise.all(all.map((c) => docker.getContainer(c.Id).remove({ force: true })));

  let service = await startBenchService(env);
  await service.waitFor('HTTPS API listening');
  await inBatches(N, 20, startOne);
  for (;;) {
    const s = await snapshot(service);
    if (s && s.containers.filter((c) => c.state.startsWith('ttyAssigned')).length === N) break;
    await sleep(100);
  }
  const root = service.root;
  const everyContainerAdopted = async (s: BenchService) => {
    for (;;) {
      const snap = await snapshot(s);
      if (snap && snap.containers.filter((c) => c.state.startsWith('ttyAssigned')).length === N) return;
      await sleep(20);
    }
  };

  const cleanRestarts: { stop: number; adopted: number; cpuMs: number }[] = [];
  for (let round = 0; round < 3; round++) {
    const stopAt = performance.now();
    service.child.kill('SIGTERM');
    await new Promise((resolve) => service.child.once('exit', resolve));
    const stop = performance.now() - stopAt;
    const t0 = performance.now();
    service = await startBenchService(env, [], root);
    await everyContainerAdopted(service);
    cleanRestarts.push({ stop, adopted: performance.now() - t0, cpuMs: cpuMsOf(service.child.pid!) });
  }
  service.child.kill('SIGKILL');
  await new Promise((resolve) => service.child.once('exit', resolve));

  const restartTimes: { api: number; adopted: number }[] = [];
  for (let round = 0; round < 3; round++) {
    const t0 = performance.now();
    service = await startBenchService(env, [], root);
    await service.waitFor('HTTPS API listening');
    const api = performance.now() - t0;
    for (;;) {
      const s = await snapshot(service);
      if (s && s.containers.filter((c) => c.state.startsWith('ttyAssigned')).length === N) break;
      await sleep(20);
    }
    restartTimes.push({ api, adopted: performance.now() - t0 });
    // BENCH_TIMELINE=1: where the restart's time went, from the service's own log lines.
    if (process.env['BENCH_TIMELINE']) printTimeline(service.lines, Date.now() - (performance.now() - t0));
    const rss = rssMb(service.child.pid!);
    if (round === 2) console.log(`RSS after adopting ${N} containers: ${rss} MB`);
    service.child.kill('SIGKILL');
    await new Promise((resolve) => service.child.once('exit', resolve));
  }

  // Faults: SIGKILL during a churn, restart, compare with the engine.
  let duplicates = 0;
  let leaked = 0;
  let unconverged = 0;
  for (let trial = 0; trial < TRIALS; trial++) {
    service = await startBenchService(env, [], root);
    await service.waitFor('HTTPS API listening');
    let stop = false;
    const churn = (async () => {
      while (!stop) {
        const running = (await docker.listContainers()).map((c) => c.Id);
        if (running.length > N / 2 && Math.random() < 0.5) {
          await docker
            .getContainer(running[Math.floor(Math.random() * running.length)]!)
            .remove({ force: true })
            .catch(() => {});
        } else await startOne().catch(() => {});
      }
    })();
    await sleep(300 + Math.random() * 2000);
    service.child.kill('SIGKILL');
    await new Promise((resolve) => service.child.once('exit', resolve));
    stop = true;
    await churn;
    service = await startBenchService(env, [], root);
    let state = await folderState(service.mappings);
    const deadline = Date.now() + 10_000;
    while (!state.matches && Date.now() < deadline) {
      await sleep(100);
      state = await folderState(service.mappings);
    }
    duplicates += state.duplicates;
    leaked += state.leaked;
    if (!state.matches) unconverged += 1;
    service.child.kill('SIGKILL');
    await new Promise((resolve) => service.child.once('exit', resolve));
  }
  const mountsLeft = fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.includes(path.join(root, 'fractal/cloudStorage'))).length;

  const fmt = (v: number) => `${Math.round(v)} ms`;
  for (const [i, t] of cleanRestarts.entries()) {
    console.log(
      `clean restart ${i + 1}: SIGTERM with ${N} containers exited after ${fmt(t.stop)}, all ${N} adopted ${fmt(t.adopted)} after the new start (service CPU by then ${fmt(t.cpuMs)})`,
    );
  }
  for (const [i, t] of restartTimes.entries()) {
    console.log(
      `restart ${i + 1}: API serving after ${fmt(t.api)}, all ${N} containers adopted after ${fmt(t.adopted)}`,
    );
  }
  console.log(
    `faults: ${TRIALS} kill-during-churn trials, ${unconverged} not converged within 10 s, ${duplicates} duplicate TTYs, ${leaked} leaked folders, ${mountsLeft} leaked mounts`,
  );
  const rest = await docker.listContainers({ all: true });
  await Promise.all(rest.map((c) => docker.getContainer(c.Id).remove({ force: true })));
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
