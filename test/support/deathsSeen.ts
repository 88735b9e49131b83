import { withDeathSeen, type DeathsSeen } from '../../machines/host/deathsSeen.js';

/** A chain of deaths reported in the order given, each `[containerId, diedAtMs]`. */
export function deathsOldestFirst(deaths: readonly (readonly [string, number])[]): DeathsSeen {
  let chain: DeathsSeen = undefined;
  for (const [containerId, diedAtMs] of deaths) chain = withDeathSeen(chain, containerId, diedAtMs);
  return chain;
}
