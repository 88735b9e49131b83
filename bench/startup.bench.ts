/**
 * Start and stop of the service as a host runs it (the built executable):
 *
 * - process start → API accepting TLS connections on HOST_SERVICE_PORT. In a
 *   build without the API yet, the figure falls back to process start →
 *   serving (the engine stream connected after the handshake), and says so;
 * - resident memory after start, with Sentry on;
 * - SIGTERM → exit, with no containers and with 100 (dying heartbeat included).
 *
 * Webserver, metadata and Sentry are the local stand-ins.
 */
import tls from 'node:tls';
import { rssMb } from './lib.js';
import { removeAllContainers, startContainer } from '../test/support/engine.js';
import { listFolders } from '../test/support/mappings.js';
import { startService, type RunningService } from '../test/support/service.js';
import { startStandIns } from '../test/support/standins/index.js';
import { sleep, waitFor } from '../test/support/wait.js';

const STARTS = 7;
const STOPS = 5;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const summary = (xs: number[]) =>
  `median ${median(xs).toFixed(0)} ms (min ${Math.min(...xs).toFixed(0)}, max ${Math.max(...xs).toFixed(0)}, n=${xs.length})`;

function tlsAccepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, timeout: 500 });
    socket.once('secureConnect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

interface Start {
  service: RunningService;
  servingMs: number;
  tlsMs: number | undefined;
}

async function timedStart(env: Record<string, string>): Promise<Start> {
  const startedAt = performance.now();
  const service = await startService({ env, waitForEngine: false });
  let tlsMs: number | undefined;
  let servingMs: number | undefined;
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline && (tlsMs === undefined || servingMs === undefined)) {
    if (servingMs === undefined && service.logs.some((l) => l.msg === 'engine connected')) {
      servingMs = performance.now() - startedAt;
    }
    if (tlsMs === undefined && (await tlsAccepts(service.port))) tlsMs = performance.now() - startedAt;
    // No API in this build: stop waiting for it a while after serving.
    if (tlsMs === undefined && servingMs !== undefined && performance.now() - startedAt > servingMs + 2000)
      break;
    await sleep(5);
  }
  if (servingMs === undefined) throw new Error('the service did not reach serving within 15 s');
  return { service, servingMs, tlsMs };
}

/** Other engines on this machine publish on 127.0.0.1 too: a taken port is retried, not fatal. */
async function startWithRetry(attempts = 5): Promise<void> {
  for (let i = 1; ; i++) {
    try {
      await startContainer();
      return;
    } catch (error) {
      if (i >= attempts) throw error;
      await sleep(100);
    }
  }
}

async function main() {
  const standIns = await startStandIns();
  const env = { ...standIns.env, USE_PROD_SENTRY: 'true', HEARTBEAT_INTERVAL_MS: '60000' };
  await removeAllContainers();

  const serving: number[] = [];
  const tlsReady: number[] = [];
  const rss: number[] = [];
  const stopIdle: number[] = [];
  for (let i = 0; i < STARTS; i++) {
    const { service, servingMs, tlsMs } = await timedStart(env);
    serving.push(servingMs);
    if (tlsMs !== undefined) tlsReady.push(tlsMs);
    await sleep(1500);
    rss.push(rssMb(service.process.pid!));
    const sentAt = performance.now();
    const code = await service.stop('SIGTERM');
    if (i < STOPS) stopIdle.push(performance.now() - sentAt);
    if (code !== 0) throw new Error(`exit code ${code}`);
  }

  console.log(`start → serving (handshake done, engine stream connected): ${summary(serving)}`);
  if (tlsReady.length > 0) {
    console.log(
      `start → API accepting TLS: ${summary(tlsReady)}; target < 1000 ms every time, median ≤ 250 ms`,
    );
  } else {
    console.log(
      'start → API accepting TLS: no TLS listener in this build; the serving figure above stands in for it',
    );
  }
  console.log(
    `RSS after start, Sentry on: median ${median(rss).toFixed(1)} MB (max ${Math.max(...rss).toFixed(1)}); target < 110 MB`,
  );
  console.log(`SIGTERM → exit, no containers: ${summary(stopIdle)}; target < 1000 ms`);

  // 100 containers: each drains (folder removed, TTY freed) before the dying heartbeat.
  const { service } = await timedStart(env);
  await Promise.all(Array.from({ length: 100 }, () => startWithRetry()));
  await waitFor('100 folders', () => listFolders(service.mappings).length === 100, 120_000, 100);
  const heartbeatsBefore = standIns.webserver.heartbeats().length;
  const sentAt = performance.now();
  const code = await service.stop('SIGTERM', 30_000);
  const stopBusy = performance.now() - sentAt;
  const dying = standIns.webserver
    .heartbeats()
    .slice(heartbeatsBefore)
    .some((b) => b.IsDyingHeartbeat);
  console.log(
    `SIGTERM → exit, 100 containers: ${stopBusy.toFixed(0)} ms (exit ${code}, dying heartbeat ${dying ? 'sent' : 'MISSING'}); target < 5000 ms`,
  );
  await removeAllContainers();
  await standIns.close();
}

await main();
