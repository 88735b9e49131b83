/**
 * The DPI endpoint over TLS with 100 containers tracked on the private
 * engine: one keep-alive connection (1000 requests), 50 concurrent keep-alive
 * clients (5000 requests), and a new TLS connection per request (100
 * requests, no session resumption). Every answer must be a 200: each one
 * stands for two files written to temp files, fsynced and renamed.
 *
 * Then the floor: the same two files written by this process, one after the
 * other with plain blocking calls, in a folder beside the service's on the
 * same disk. No implementation of the contract answers faster than that, so
 * it tells the disk's share of the sequential figure from the service's.
 */
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { apiClient, send } from '../test/support/api.js';
import { writeDurablySync } from './durableWrite.js';
import { publishedPort, removeAllContainers, startContainer } from '../test/support/engine.js';
import { readFolder } from '../test/support/mappings.js';
import { startService, TEST_AUTH_SECRET, type RunningService } from '../test/support/service.js';
import { waitFor } from '../test/support/wait.js';

const CONTAINERS = 100;

interface Figures {
  p50: number;
  p99: number;
  perSecond: number;
}

function figures(latencies: number[], wallMs: number): Figures {
  const sorted = [...latencies].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
  return { p50: at(0.5), p99: at(0.99), perSecond: (latencies.length / wallMs) * 1000 };
}

async function timedDpi(agent: https.Agent, service: RunningService, hostPort: number, dpi: number) {
  const started = performance.now();
  const res = await send(agent, service.port, 'PUT', '/set_container_dpi', {
    auth_secret: TEST_AUTH_SECRET,
    host_port: hostPort,
    dpi,
  });
  if (res.status !== 200) throw new Error(`DPI request answered ${res.status}: ${res.body}`);
  return performance.now() - started;
}

/** `clients` loops side by side, each on its own containers, `perClient` requests each. */
async function run(
  agent: https.Agent,
  service: RunningService,
  ports: number[],
  clients: number,
  perClient: number,
): Promise<Figures> {
  const latencies: number[] = [];
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async (_, client) => {
      const own = ports.filter((_, i) => i % clients === client);
      for (let n = 0; n < perClient; n++) {
        latencies.push(await timedDpi(agent, service, own[n % own.length]!, 96 + (n % 4) * 48));
      }
    }),
  );
  return figures(latencies, performance.now() - started);
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

const line = (name: string, f: Figures, original: string) =>
  `${name.padEnd(34)} p50 ${f.p50.toFixed(2).padStart(6)} ms  p99 ${f.p99.toFixed(2).padStart(6)} ms  ` +
  `${f.perSecond.toFixed(0).padStart(5)} req/s   (original: ${original})`;

async function main(): Promise<void> {
  await removeAllContainers();
  const service = await startService({ env: { LOG_LEVEL: 'info' } });
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

    const tls = { rejectUnauthorized: false };
    const keepAlive = new https.Agent({ ...tls, keepAlive: true, maxSockets: 1 });
    await run(keepAlive, service, ports, 1, 100); // warm-up: every container answered once
    const sequential = await run(keepAlive, service, ports, 1, 1000);
    keepAlive.destroy();

    const pool = new https.Agent({ ...tls, keepAlive: true, maxSockets: 50 });
    const concurrent = await run(pool, service, ports, 50, 100);
    pool.destroy();

    // No session cache: each request pays a full handshake, as a fresh webserver connection does.
    const fresh = new https.Agent({ ...tls, keepAlive: false, maxCachedSessions: 0 });
    const newConnections = await run(fresh, service, ports, 1, 100);
    fresh.destroy();

    const floor = await diskFloor(path.join(service.root, 'disk-floor'), 1000, 0);
    const pausedFloor = await diskFloor(path.join(service.root, 'disk-floor'), 1000, 1);

    process.stdout.write(`DPI endpoint over TLS, ${CONTAINERS} containers tracked, every write fsynced\n`);
    process.stdout.write(
      `${line('1 keep-alive connection, 1000 req', sequential, 'p50 0.9-1.0, p99 2.6-3.5, ~900-1000/s')}\n`,
    );
    process.stdout.write(
      `${line('50 keep-alive clients, 5000 req', concurrent, 'p50 39-41, p99 56-67, ~1200-1270/s')}\n`,
    );
    process.stdout.write(
      `${line('new TLS connection each, 100 req', newConnections, 'p50 10-13 (RSA-4096)')}\n`,
    );
    process.stdout.write(
      `${line('floor: the two files alone, 1000x', floor, 'same disk, no HTTP, no service')}\n`,
    );
    process.stdout.write(
      `${line('the same, 1 ms pause between rounds', pausedFloor, 'the pauses not counted')}\n`,
    );
    const checks = [
      ['sequential p50 <= 1.0 ms', sequential.p50 <= 1.0],
      ['sequential p99 <= 3.5 ms', sequential.p99 <= 3.5],
      ['50 concurrent p99 < 30 ms', concurrent.p99 < 30],
      ['50 concurrent >= 1200 req/s', concurrent.perSecond >= 1200],
      ['new connection p50 <= 10 ms', newConnections.p50 <= 10],
    ] as const;
    for (const [what, ok] of checks) process.stdout.write(`  ${ok ? 'met   ' : 'MISSED'} ${what}\n`);
  } finally {
    await removeAllContainers();
    await service.stop();
  }
}

await main();
