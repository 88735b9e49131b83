/**
 * What the host decides when it compares what it tracks with what the engine
 * or the folders say: at boot (folders of an earlier run), at every re-list,
 * and at stop. Pure functions of data, tested on their own; the host machine
 * only applies the decisions.
 */
import { ECS_AGENT_NAME, type FolderRecord } from '../events.js';
import { deathsKept, latestDeaths, type DeathsSeen } from './deathsSeen.js';
import { adoptTty, type TtyTable } from './ttyTable.js';

/** What the host knows of a tracked container, from the container's own events. */
export interface TrackedFacts {
  /** Engine clock, ms; undefined until its inspection said it runs. */
  startedAtMs: number | undefined;
}

export interface Reservation {
  ttyTable: TtyTable;
  hostPorts: ReadonlyMap<number, string>;
  adoptable: ReadonlyMap<string, FolderRecord>;
}

/**
 * Reserves what the folders of an earlier run hold, so that no new container
 * is handed a TTY or host port a live container still has. Of two folders
 * with the same TTY, the older claim (its `tty` file's time) keeps it; the
 * loser is not reserved, and its container claims afresh when adopted.
 */
export function reserveFolders(
  ttyTable: TtyTable,
  hostPorts: ReadonlyMap<number, string>,
  folders: readonly FolderRecord[],
): Reservation {
  const oldestFirst = [...folders].sort(
    (a, b) => (a.ttyWrittenAtMs ?? Infinity) - (b.ttyWrittenAtMs ?? Infinity),
  );
  let table = ttyTable;
  const ports = new Map(hostPorts);
  for (const folder of oldestFirst) {
    if (folder.tty !== undefined) table = adoptTty(table, folder.containerId, folder.tty) ?? table;
    if (folder.hostPort !== undefined && !ports.has(folder.hostPort)) {
      ports.set(folder.hostPort, folder.containerId);
    }
  }
  return {
    ttyTable: table,
    hostPorts: ports,
    adoptable: new Map(oldestFirst.map((f) => [f.containerId, f])),
  };
}

export interface RelistDecision {
  /** New actors: every folder of an earlier run, and every running container nobody tracks. */
  spawn: string[];
  /** Tracked containers the list shows dead: they started before it was asked for. */
  died: string[];
  /** Folders of an earlier run whose container the list does not show: their actors will drain them. */
  adoptedButGone: string[];
}

/**
 * How long the engine's list may lag behind what it reports elsewhere. It
 * sets `StartedAt`, and sends a death, a moment before its list shows the
 * change. In batches of 100 with a re-list every 10 s, one of 800 containers
 * was missing from a list asked for after its `StartedAt` (the host took it
 * for dead and removed the folder of a running container), and 67 of 1,000
 * removed ones were still listed running after their death had been seen.
 * A container that truly died unseen that soon after its start is found dead
 * by the next list instead.
 */
export const LIST_LAG_MS = 2_000;

/** Whether a list that does not show a container, asked for at `listedAtMs`, says it is dead. */
function listSaysDead(startedAtMs: number | undefined, listedAtMs: number): boolean {
  return startedAtMs !== undefined && startedAtMs < listedAtMs - LIST_LAG_MS;
}

/** Whether a list that shows a container running may be older than the death seen at `diedAtMs`. */
function listOlderThanDeath(diedAtMs: number | undefined, listedAtMs: number): boolean {
  return diedAtMs !== undefined && diedAtMs >= listedAtMs - LIST_LAG_MS;
}

/**
 * A re-list is a newer observation than a tracked container's start only if
 * that container started well before the list was asked for (same host
 * clock, LIST_LAG_MS): otherwise its absence says nothing. Likewise a
 * container the list shows running may be dead already: its actor may be
 * gone, and a new one would only inspect a dead container and clean up
 * nothing.
 */
export function decideRelist(
  tracked: ReadonlyMap<string, TrackedFacts>,
  adoptable: ReadonlyMap<string, FolderRecord>,
  running: readonly { containerId: string; name: string }[],
  listedAtMs: number,
  deathsSeen: DeathsSeen,
): RelistDecision {
  const diedAtMs = latestDeaths(deathsSeen);
  const runningIds = new Set(running.map((c) => c.containerId));
  const spawn = new Set([...adoptable.keys()].filter((id) => !tracked.has(id)));
  for (const { containerId, name } of running) {
    if (
      name !== ECS_AGENT_NAME &&
      !tracked.has(containerId) &&
      !listOlderThanDeath(diedAtMs.get(containerId), listedAtMs)
    ) {
      spawn.add(containerId);
    }
  }
  const adoptedButGone = [...spawn].filter((id) => adoptable.has(id) && !runningIds.has(id));
  const died = [...tracked]
    .filter(([id, facts]) => !runningIds.has(id) && listSaysDead(facts.startedAtMs, listedAtMs))
    .map(([id]) => id);
  return { spawn: [...spawn], died, adoptedButGone };
}

/**
 * The deaths a later list can still be older than: lists are asked for one
 * after another, so a death this one cannot be older than, no later one can.
 */
export function deathsAfter(deathsSeen: DeathsSeen, listedAtMs: number): DeathsSeen {
  return deathsKept(deathsSeen, (diedAtMs) => listOlderThanDeath(diedAtMs, listedAtMs));
}

export interface StopDecision {
  /** Still running, or not known to be dead: let go with their folders, TTYs and mounts. */
  leaving: string[];
  /** Dead: drained as on their death. */
  dead: string[];
}

/**
 * At stop: with the engine's list, a container it does not show that started
 * before the list was asked for is dead; every other one is let go. Without
 * a list (`running` undefined), every container is let go: deleting what may
 * be live cannot be undone, and the next start sorts out what died.
 */
export function decideStop(
  tracked: ReadonlyMap<string, TrackedFacts>,
  running: readonly string[] | undefined,
  listedAtMs: number,
): StopDecision {
  const runningIds = running === undefined ? undefined : new Set(running);
  const decision: StopDecision = { leaving: [], dead: [] };
  for (const [id, facts] of tracked) {
    const dead =
      runningIds !== undefined && !runningIds.has(id) && listSaysDead(facts.startedAtMs, listedAtMs);
    (dead ? decision.dead : decision.leaving).push(id);
  }
  return decision;
}

/** Engine event time (ns, as the engine writes it) of a local-clock instant in ms. */
export function timeNanoOf(ms: number): string {
  return (BigInt(ms) * 1_000_000n).toString();
}
