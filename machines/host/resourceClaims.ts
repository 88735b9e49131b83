/**
 * Deciding containers' claims for a TTY and a host port, with one rule on top
 * of "the lowest free number": a claim waits while a container that the
 * engine's list found dead (or that the engine's handing its host port to a
 * later container showed dead, `supersededHolder`) still holds a lower TTY,
 * or the host port asked for. Such a container gives both back only once its
 * folder is gone, a few milliseconds later; without the wait, the starts
 * handled right after an engine restart got numbers above the dead ones'
 * instead of theirs.
 *
 * Pure data and pure functions, like the TTY table; the host owns the state.
 * Every waiting claim is bounded by a drain: a dead container's drain always
 * ends in `resources.release` or in the actor's end (`removed`), and a container that
 * turns out alive ends the wait by claiming itself.
 */
import { withEntry, withoutKey } from '../shared.js';
import { claimTty, lowestFreeTty, releaseTty, ttyHeldBy, type TtyTable } from './ttyTable.js';

export interface ResourceClaim {
  containerId: string;
  hostPort: number;
}

export interface ClaimState {
  ttyTable: TtyTable;
  /** Host port to the id of the container that holds it. */
  hostPorts: ReadonlyMap<number, string>;
  /** Containers found dead by a list or by `supersededHolder`, until they give back what they hold. */
  diedByList: ReadonlySet<string>;
  /** Claims waiting for one of those, oldest first. */
  deferredClaims: ResourceClaim[];
}

export type ClaimAnswer =
  | { containerId: string; type: 'resources.granted'; tty: number }
  | { containerId: string; type: 'resources.denied'; reason: string };

export interface ClaimResult {
  state: ClaimState;
  answers: ClaimAnswer[];
}

/** Whether `result` grants `containerId` its TTY and host port. */
export function isGranted(result: ClaimResult, containerId: string): boolean {
  const { answers } = result;
  // By index: on every inspection, where an iterator's results are objects in V8's lower tiers.
  for (let i = 0; i < answers.length; i++) {
    if (answers[i]!.containerId === containerId) return answers[i]!.type === 'resources.granted';
  }
  return false;
}

function holdsWhatTheClaimWaitsFor(state: ClaimState, claim: ResourceClaim, holder: string): boolean {
  if (state.hostPorts.get(claim.hostPort) === holder) return true;
  const held = ttyHeldBy(state.ttyTable, holder);
  if (held === undefined) return false;
  const wouldGet = lowestFreeTty(state.ttyTable);
  return wouldGet === undefined || held < wouldGet;
}

function mustWait(state: ClaimState, claim: ResourceClaim): boolean {
  // One that already holds a TTY (adopted) keeps it: nothing lower to wait for.
  if (ttyHeldBy(state.ttyTable, claim.containerId) !== undefined) return false;
  for (const holder of state.diedByList) {
    if (holder !== claim.containerId && holdsWhatTheClaimWaitsFor(state, claim, holder)) return true;
  }
  return false;
}

function decide(state: ClaimState, claim: ResourceClaim): ClaimResult {
  const { containerId, hostPort } = claim;
  if (mustWait(state, claim)) {
    return { state: { ...state, deferredClaims: [...state.deferredClaims, claim] }, answers: [] };
  }
  const holder = state.hostPorts.get(hostPort);
  if (holder !== undefined && holder !== containerId) {
    const reason = `host port ${hostPort} already belongs to container ${holder}`;
    return { state, answers: [{ containerId, type: 'resources.denied', reason }] };
  }
  const granted = claimTty(state.ttyTable, containerId);
  if (granted.tty === undefined) {
    const assignable = state.ttyTable.size - state.ttyTable.firstAssignable;
    const reason = `all ${assignable} assignable TTYs are taken`;
    return { state, answers: [{ containerId, type: 'resources.denied', reason }] };
  }
  return {
    state: {
      ...state,
      ttyTable: granted.table,
      hostPorts: withEntry(state.hostPorts, hostPort, containerId),
    },
    answers: [{ containerId, type: 'resources.granted', tty: granted.tty }],
  };
}

function withoutDiedByList(state: ClaimState, containerId: string): ClaimState {
  if (!state.diedByList.has(containerId)) return state;
  const diedByList = new Set(state.diedByList);
  diedByList.delete(containerId);
  return { ...state, diedByList };
}

/** Decides the waiting claims again, oldest first, after something was given back. */
function retryDeferred(state: ClaimState): ClaimResult {
  if (state.deferredClaims.length === 0) return { state, answers: [] };
  let current: ClaimState = { ...state, deferredClaims: [] };
  const answers: ClaimAnswer[] = [];
  for (const claim of state.deferredClaims) {
    const result = decide(current, claim);
    current = result.state;
    answers.push(...result.answers);
  }
  return { state: current, answers };
}

/** A container asks for its TTY and host port. One that a list found dead and that claims is alive after all. */
export function claimResources(state: ClaimState, claim: ResourceClaim): ClaimResult {
  return decide(withoutDiedByList(state, claim.containerId), claim);
}

/**
 * The container that holds the claim's host port, if the engine has given
 * that port to the claimant since. The engine publishes a host port for one
 * running container at a time, so a holder it started before the claimant
 * no longer runs, whatever a list said: a list may not show a container for
 * a moment after its start (LIST_LAG_MS), and a death may come late. Without
 * this, the claimant was refused for good and ran without a folder (an
 * engine restart under load, in the engine-restart test).
 */
export function supersededHolder(
  state: ClaimState,
  claim: ResourceClaim,
  claimantStartedAtMs: number,
  startedAtOf: (containerId: string) => number | undefined,
): string | undefined {
  const holder = state.hostPorts.get(claim.hostPort);
  if (holder === undefined || holder === claim.containerId || state.diedByList.has(holder)) return undefined;
  const holderStartedAtMs = startedAtOf(holder);
  return holderStartedAtMs !== undefined && holderStartedAtMs < claimantStartedAtMs ? holder : undefined;
}

/** A list, or a later container on the same host port, found these dead: claims may wait for what they hold. */
export function markDiedByList(state: ClaimState, containerIds: readonly string[]): ClaimState {
  if (containerIds.length === 0) return state;
  return { ...state, diedByList: new Set([...state.diedByList, ...containerIds]) };
}

/**
 * A container gives back everything it holds (its folder is gone), or is
 * forgotten: its own waiting claim goes, and the others are decided again.
 */
export function releaseResources(state: ClaimState, containerId: string): ClaimResult {
  // Up to two: the one reserved from its adopted folder and the one it claimed.
  // `forEach`: walking the entries as pairs made two objects an entry in V8's lower tiers.
  let hostPorts = state.hostPorts;
  state.hostPorts.forEach((holder, port) => {
    if (holder === containerId) hostPorts = withoutKey(hostPorts, port);
  });
  const ttyTable = releaseTty(state.ttyTable, containerId);
  const ownClaimWaits = state.deferredClaims.some((claim) => claim.containerId === containerId);
  const marked = state.diedByList.has(containerId);
  // Held nothing (a rejected container's removal): every waiting claim would be decided as before.
  if (ttyTable === state.ttyTable && hostPorts === state.hostPorts && !ownClaimWaits && !marked) {
    return { state, answers: [] };
  }
  return retryDeferred({
    ...withoutDiedByList(state, containerId),
    ttyTable,
    hostPorts,
    deferredClaims: ownClaimWaits
      ? state.deferredClaims.filter((claim) => claim.containerId !== containerId)
      : state.deferredClaims,
  });
}
