/**
 * What the machines alone cost: the host and container machines in this
 * process, every outside duty an instant fake (inspection, files, the API,
 * the engine's events), with 100 containers tracked. Two figures, each the
 * lowest and the median CPU of eight rounds (this process's user + system):
 * one DPI request routed by the host to its container, written and answered;
 * one container lifecycle (start, claim, start files, die, clean-up, gone).
 * What the built service spends above these, in `BENCH=api` and
 * `BENCH=containers`, is I/O, HTTP and the engine client. No engine needed.
 *
 * After each round the engine's list comes, as the service's re-list does:
 * the host forgets the deaths it no longer needs then, and without it the
 * deaths it remembers would grow by a round's worth every round.
 */
import { Subject } from 'rxjs';
import { createActor, fromCallback, fromPromise, type EventObject } from 'xstate';
import type { ApiReply, DockerObservation } from '../machines/events.js';
import type { HostContext, HostEvent } from '../machines/host/machine.js';
import { LIST_LAG_MS } from '../machines/host/reconciliation.js';
import { createStateClock } from '../src/observability/stateSnapshot.js';
import { fakeContainerMachine, fakeHostMachine } from '../test/support/fakeMachines.js';
import { percentile } from './lib.js';

const TRACKED = 100;
const REQUESTS_PER_ROUND = 10_000;
const LIFECYCLES_PER_ROUND = 100;
const ROUNDS = 8;

const idOf = (n: number) => n.toString(16).padStart(64, '0');
const engine = new Subject<DockerObservation>();
const hostPorts = new Map<string, number>();
let onReply: (reply: ApiReply) => void = () => {};
let sendToHost: (event: HostEvent) => void = () => {};

const container = fakeContainerMachine(async ({ containerId }) => {
  const hostPort = hostPorts.get(containerId);
  return {
    containerId,
    name: 'desktop',
    running: hostPort !== undefined,
    startedAtMs: 1000,
    hostPortBindings: hostPort === undefined ? [] : [hostPort],
  };
});
const host = fakeHostMachine(container, engine, {
  actors: {
    apiServer: fromCallback(({ sendBack, receive }) => {
      sendToHost = sendBack;
      receive((event) => onReply(event as EventObject & ApiReply));
    }),
    listRunningContainers: fromPromise(async () => ({ running: [...hostPorts.keys()], listedAtMs: 0 })),
  },
});

// As the service runs: the state clock follows every actor, nothing inspects them.
const actor = createActor(host, {
  input: { ttyCount: 256, dpiTimeoutMs: 600_000, requestWaitMs: 1000, drainTimeoutMs: 2000 },
});
createStateClock().watch(actor);
actor.start();

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));
const cpuMs = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};
// Asked on every turn while the machines work, so it must cost next to nothing itself.
const trackedRef = (containerId: string) =>
  (actor.getSnapshot().context as HostContext).containers.get(containerId)?.ref;
async function until(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('the machines did not get there within 60 s');
    await nextTurn();
  }
}

// The engine's clock for deaths and lists: a list forgets the deaths older than LIST_LAG_MS before it.
let engineClockMs = Date.now();
function listRunning(): void {
  engineClockMs += LIST_LAG_MS + 1;
  const running = [...hostPorts.keys()].map((containerId) => ({ containerId, name: 'desktop' }));
  engine.next({ type: 'docker.listed', running, listedAtMs: engineClockMs });
}

let started = 0;
async function startContainers(count: number): Promise<string[]> {
  const ids = Array.from({ length: count }, () => idOf(++started));
  for (const [i, containerId] of ids.entries()) {
    hostPorts.set(containerId, 40_000 + ((started - count + i) % 20_000));
    engine.next({ type: 'docker.start', containerId, name: 'desktop', timeNano: `${started}000000` });
  }
  await until(() => ids.every((id) => trackedRef(id)?.getSnapshot().matches('ttyAssigned') === true));
  return ids;
}

let requestId = 0;
function setDpi(hostPort: number, dpi: number): Promise<ApiReply> {
  return new Promise((resolve) => {
    onReply = resolve;
    sendToHost({
      type: 'api.request',
      requestId: String(++requestId),
      request: { kind: 'setDpi', hostPort, dpi },
    });
  });
}

await until(() => actor.getSnapshot().matches('serving'));
engine.next({ type: 'docker.connected' });
const tracked = await startContainers(TRACKED);
const ports = tracked.map((id) => hostPorts.get(id)!);
for (const port of ports) await setDpi(port, 96);

const perRequestUs: number[] = [];
const perLifecycleUs: number[] = [];
for (let round = 0; round < ROUNDS; round++) {
  const beforeRequests = cpuMs();
  for (let n = 0; n < REQUESTS_PER_ROUND; n++) {
    const reply = await setDpi(ports[n % TRACKED]!, n % 2 === 0 ? 144 : 96);
    if (reply.status !== 200) throw new Error(`a DPI request was answered ${JSON.stringify(reply)}`);
  }
  perRequestUs.push(((cpuMs() - beforeRequests) / REQUESTS_PER_ROUND) * 1000);

  const beforeLifecycles = cpuMs();
  const ids = await startContainers(LIFECYCLES_PER_ROUND);
  for (const containerId of ids) {
    hostPorts.delete(containerId);
    // After the start the inspection reported (1000 ms): an older death would be a stale one.
    engine.next({ type: 'docker.die', containerId, timeNano: `${engineClockMs}000000` });
  }
  await until(() => ids.every((id) => trackedRef(id) === undefined));
  perLifecycleUs.push(((cpuMs() - beforeLifecycles) / LIFECYCLES_PER_ROUND) * 1000);
  listRunning();
  await until(() => (actor.getSnapshot().context as HostContext).deathsSeen === undefined);
}
actor.stop();

const figure = (values: number[]) =>
  `lowest ${Math.min(...values).toFixed(0)} µs, median ${percentile(values, 50).toFixed(0)} µs`;
console.log(`the machines alone, ${TRACKED} containers tracked, CPU of ${ROUNDS} rounds:`);
console.log(`  one DPI request (host routes, container writes and answers): ${figure(perRequestUs)}`);
console.log(`  one container lifecycle (start to gone): ${figure(perLifecycleUs)}`);
process.exit(0);
