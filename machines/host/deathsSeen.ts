/**
 * The deaths the engine reported that a list in flight may not know of yet
 * (engine clock, ms), newest first, as a chain of links that never change:
 * a death adds one link in front, and every snapshot keeps the chain it was
 * made with. A Map copied on write cost a copy of every death since the last
 * list for each death: in a burst, a hundred entries a death
 * (bench/MEASUREMENTS.md, "Fewer copies of the host's Maps"). Only a list
 * reads the chain, once, and prunes it (./reconciliation.ts).
 */
export interface DeathSeen {
  readonly containerId: string;
  readonly diedAtMs: number;
  readonly earlier: DeathsSeen;
}

/** No link: no death a list in flight may not know of. */
export type DeathsSeen = DeathSeen | undefined;

export function withDeathSeen(deaths: DeathsSeen, containerId: string, diedAtMs: number): DeathsSeen {
  return { containerId, diedAtMs, earlier: deaths };
}

/** Each container's latest reported death: a later report of the same id shadows the earlier ones. */
export function latestDeaths(deaths: DeathsSeen): Map<string, number> {
  const byId = new Map<string, number>();
  for (let link = deaths; link !== undefined; link = link.earlier) {
    if (!byId.has(link.containerId)) byId.set(link.containerId, link.diedAtMs);
  }
  return byId;
}

/**
 * The chain with only the latest death of each id that `keep` keeps, in the
 * same order; the same chain when that is all of it.
 */
export function deathsKept(deaths: DeathsSeen, keep: (diedAtMs: number) => boolean): DeathsSeen {
  const seen = new Set<string>();
  const kept: DeathSeen[] = [];
  let dropped = false;
  for (let link = deaths; link !== undefined; link = link.earlier) {
    if (!seen.has(link.containerId) && keep(link.diedAtMs)) kept.push(link);
    else dropped = true;
    seen.add(link.containerId);
  }
  if (!dropped) return deaths;
  let chain: DeathsSeen = undefined;
  for (let i = kept.length - 1; i >= 0; i--)
    chain = withDeathSeen(chain, kept[i]!.containerId, kept[i]!.diedAtMs);
  return chain;
}
