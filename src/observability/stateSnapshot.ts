/**
 * A point-in-time account of every actor, for people and scripts: the
 * service's state, the host's state and parallel regions, and one row per
 * container (state, container id, host port, TTY, mounts, time in state).
 *
 * `stateSnapshotOf` is pure: it reads actor snapshots and a record of when
 * each actor entered its current state (kept by `createStateClock`, which
 * follows the actors' own snapshots), and returns plain JSON.
 */
import type { AnyActorRef } from 'xstate';
import { containerFacts } from '../../machines/container/machine.js';
import { hostFacts, type HostContext } from '../../machines/host/machine.js';

export interface ContainerSummary {
  containerId: string;
  state: string;
  name: string | null;
  hostPort: number | null;
  tty: number | null;
  dpi: number | null;
  mounts: string[];
  error: string | null;
  /** Milliseconds since the actor entered `state`; null when not seen. */
  inStateMs: number | null;
}

export interface HostSummary {
  state: string;
  /** The parallel regions while serving (engine, api, heartbeats), each with its own state. */
  regions: Record<string, string>;
  inStateMs: number | null;
  ttysInUse: number;
  /** Numbers that may be handed out (the configured TTY count less the host's reserved ones). */
  ttysAssignable: number;
  pendingRequests: number;
}

export interface StateSnapshot {
  takenAt: string;
  service: { state: string; inStateMs: number | null };
  host: HostSummary | null;
  containers: ContainerSummary[];
}

/** When each actor entered its current state. */
export interface StateClock {
  /** Follows `actor` and, as they appear, every machine actor below it. */
  watch(actor: AnyActorRef): void;
  enteredAt(actor: object): number | undefined;
}

/**
 * Two state values alike: the same string, or objects with the same keys and
 * alike children. Keys counted with `for ... in` (state values are plain
 * objects): called on every step of every actor, and two key arrays and a
 * closure a call were about 1 kB a container's lifecycle.
 */
function sameStateValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  let keyCountDifference = 0;
  for (const k in a) {
    if (!Object.hasOwn(b, k)) return false;
    if (!sameStateValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
    keyCountDifference += 1;
  }
  for (const _ in b) keyCountDifference -= 1;
  return keyCountDifference === 0;
}

interface ObservedSnapshot {
  value?: unknown;
  children?: Record<string, AnyActorRef | undefined>;
}

/**
 * Fed by each machine actor's own snapshots (one call per step of that
 * actor), not by the root's inspection stream: with an inspection observer,
 * XState builds an event for every event, microstep, action and snapshot of
 * every actor, which cost the DPI path about a third of its machine time.
 * The children are looked at only when the set of them changed (XState keeps
 * the same object otherwise); promise and callback actors have no state
 * value and are not followed. The observer's error handler does nothing: an
 * actor's failure still goes to its parent as before, and an observer
 * without one would make XState report the failure as unhandled.
 */
export function createStateClock(now: () => number = Date.now): StateClock {
  const seen = new WeakMap<object, { value: unknown; since: number; children: unknown }>();
  const record = (actor: AnyActorRef, snapshot: ObservedSnapshot) => {
    const { value, children } = snapshot;
    if (value === undefined) return;
    let entry = seen.get(actor);
    if (entry === undefined) {
      entry = { value, since: now(), children: undefined };
      seen.set(actor, entry);
    } else if (!sameStateValue(entry.value, value)) {
      entry.value = value;
      entry.since = now();
    }
    if (children === undefined || children === entry.children) return;
    entry.children = children;
    // `for ... in`, not `Object.values`: an array and its iterator's results each time the children changed.
    for (const id in children) {
      const child = children[id];
      if (child !== undefined) watch(child);
    }
  };
  const watch = (actor: AnyActorRef) => {
    if (seen.has(actor)) return;
    const first = actor.getSnapshot() as ObservedSnapshot | undefined;
    if (first?.value === undefined) return;
    record(actor, first);
    actor.subscribe({ next: (snapshot) => record(actor, snapshot as ObservedSnapshot), error: () => {} });
  };
  return { watch, enteredAt: (actor) => seen.get(actor)?.since };
}

/** `requested.inspecting`; parallel states list their regions: `serving(engine.connected, ...)`. */
export function formatStateValue(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === null || typeof value !== 'object') return String(value);
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 1) {
    const [key, child] = entries[0]!;
    const inner = formatStateValue(child);
    return typeof child === 'string' || (child !== null && Object.keys(child as object).length === 1)
      ? `${key}.${inner}`
      : `${key}(${inner})`;
  }
  return entries.map(([key, child]) => `${key}.${formatStateValue(child)}`).join(', ');
}

interface MachineLikeSnapshot {
  value: unknown;
  children: Record<string, AnyActorRef | undefined>;
}

function sinceMs(clock: StateClock, actor: AnyActorRef, nowMs: number): number | null {
  const entered = clock.enteredAt(actor);
  return entered === undefined ? null : Math.max(0, nowMs - entered);
}

function hostRegions(value: unknown): Record<string, string> {
  if (value === null || typeof value !== 'object') return {};
  const serving = (value as Record<string, unknown>)['serving'];
  if (serving === null || typeof serving !== 'object') return {};
  return Object.fromEntries(
    Object.entries(serving as Record<string, unknown>).map(([region, v]) => [region, formatStateValue(v)]),
  );
}

export function stateSnapshotOf(service: AnyActorRef, clock: StateClock, nowMs = Date.now()): StateSnapshot {
  const serviceSnapshot = service.getSnapshot() as MachineLikeSnapshot;
  const hostRef = serviceSnapshot.children['host'];
  const snapshot: StateSnapshot = {
    takenAt: new Date(nowMs).toISOString(),
    service: { state: formatStateValue(serviceSnapshot.value), inStateMs: sinceMs(clock, service, nowMs) },
    host: null,
    containers: [],
  };
  if (hostRef === undefined) return snapshot;

  const host = hostRef.getSnapshot() as { value: unknown; context: HostContext };
  const facts = hostFacts(host.context);
  const hostState = typeof host.value === 'string' ? host.value : Object.keys(host.value as object)[0]!;
  snapshot.host = {
    state: hostState,
    regions: hostRegions(host.value),
    inStateMs: sinceMs(clock, hostRef, nowMs),
    ttysInUse: facts.ttysInUse,
    ttysAssignable: facts.ttysAssignable,
    pendingRequests: facts.pendingRequests,
  };

  snapshot.containers = Object.entries(facts.containers)
    .map(([containerId, ref]): ContainerSummary => {
      const container = ref.getSnapshot();
      return {
        containerId,
        state: formatStateValue(container.value),
        ...containerFacts(container.context),
        inStateMs: sinceMs(clock, ref, nowMs),
      };
    })
    .sort(
      (a, b) =>
        (a.hostPort ?? Infinity) - (b.hostPort ?? Infinity) || a.containerId.localeCompare(b.containerId),
    );
  return snapshot;
}

function formatDuration(ms: number | null): string {
  if (ms === null) return '-';
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.floor(s % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

function columns(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) =>
    r
      .map((cell, i) => cell.padEnd(widths[i]!))
      .join('  ')
      .trimEnd(),
  );
}

/** The snapshot as a table for a terminal. */
export function renderStateTable(snapshot: StateSnapshot): string {
  const lines = [`state of the host service at ${snapshot.takenAt}`, ''];
  const head = [['ACTOR', 'STATE', 'IN STATE', 'DETAILS']];
  const rows = [['service', snapshot.service.state, formatDuration(snapshot.service.inStateMs), '']];
  if (snapshot.host) {
    const h = snapshot.host;
    const regions = Object.entries(h.regions).map(([r, v]) => `${r}: ${v}`);
    const details = [
      ...regions,
      `TTYs ${h.ttysInUse}/${h.ttysAssignable}`,
      `pending requests ${h.pendingRequests}`,
    ];
    rows.push(['host', h.state, formatDuration(h.inStateMs), details.join(', ')]);
  }
  lines.push(...columns([...head, ...rows]), '');
  if (snapshot.containers.length === 0) {
    lines.push('no containers');
  } else {
    const containerRows = snapshot.containers.map((c) => [
      c.containerId.slice(0, 12),
      c.state,
      c.hostPort === null ? '-' : String(c.hostPort),
      c.tty === null ? '-' : String(c.tty),
      c.dpi === null ? '-' : String(c.dpi),
      c.mounts.length === 0 ? '-' : c.mounts.join(','),
      formatDuration(c.inStateMs),
      c.error ?? '',
    ]);
    lines.push(
      ...columns([
        ['CONTAINER', 'STATE', 'HOST PORT', 'TTY', 'DPI', 'MOUNTS', 'IN STATE', 'ERROR'],
        ...containerRows,
      ]),
    );
  }
  return `${lines.join('\n')}\n`;
}
