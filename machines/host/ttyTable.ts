/**
 * The TTY table: which TTY number each live container holds.
 *
 * Pure data and pure functions, so the host machine can own it in its context
 * (one writer). Numbers below `firstAssignable` belong to the host and are
 * never handed out. Each change makes new maps and leaves the old ones as they
 * were (copy on write), so every snapshot keeps the table it was made with.
 */
import { withEntry, withoutKey } from '../shared.js';

export interface TtyTable {
  readonly size: number;
  readonly firstAssignable: number;
  /** TTY number to the container id that holds it. */
  readonly holders: ReadonlyMap<number, string>;
  /**
   * The same the other way round, container id to TTY: every claim and release
   * asks what a container holds, and a scan of `holders` made each one grow
   * with the number of containers.
   */
  readonly ttyOf: ReadonlyMap<string, number>;
}

export const DEFAULT_TTY_COUNT = 256;
export const RESERVED_TTYS = 10;

export function createTtyTable(size = DEFAULT_TTY_COUNT, firstAssignable = RESERVED_TTYS): TtyTable {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`TTY count must be a positive integer`);
  if (firstAssignable >= size) {
    throw new RangeError(`TTY count ${size} leaves no number above the ${firstAssignable} reserved ones`);
  }
  return { size, firstAssignable, holders: new Map(), ttyOf: new Map() };
}

export function ttyHeldBy(table: TtyTable, containerId: string): number | undefined {
  return table.ttyOf.get(containerId);
}

function withHolder(table: TtyTable, tty: number, containerId: string): TtyTable {
  return {
    ...table,
    holders: withEntry(table.holders, tty, containerId),
    ttyOf: withEntry(table.ttyOf, containerId, tty),
  };
}

/** The lowest free number, or undefined when every assignable number is held. */
export function lowestFreeTty(table: TtyTable): number | undefined {
  for (let tty = table.firstAssignable; tty < table.size; tty++) {
    if (!table.holders.has(tty)) return tty;
  }
  return undefined;
}

export type TtyClaim = { table: TtyTable; tty: number } | { table: TtyTable; tty: undefined };

/**
 * Gives the container the lowest free number. A container that already holds
 * one keeps it, so a repeated claim can never hand it a second number.
 */
export function claimTty(table: TtyTable, containerId: string): TtyClaim {
  const held = ttyHeldBy(table, containerId);
  if (held !== undefined) return { table, tty: held };
  const tty = lowestFreeTty(table);
  if (tty === undefined) return { table, tty: undefined };
  return { table: withHolder(table, tty, containerId), tty };
}

/**
 * Records a number that a container is already known to hold (adoption after
 * a restart). Refused when the number is outside the assignable range or held
 * by somebody else: no number is ever shared.
 */
export function adoptTty(table: TtyTable, containerId: string, tty: number): TtyTable | undefined {
  if (!Number.isInteger(tty) || tty < table.firstAssignable || tty >= table.size) return undefined;
  const holder = table.holders.get(tty);
  if (holder !== undefined && holder !== containerId) return undefined;
  if (holder === containerId) return table;
  if (ttyHeldBy(table, containerId) !== undefined) return undefined;
  return withHolder(table, tty, containerId);
}

export function releaseTty(table: TtyTable, containerId: string): TtyTable {
  const held = ttyHeldBy(table, containerId);
  if (held === undefined) return table;
  return { ...table, holders: withoutKey(table.holders, held), ttyOf: withoutKey(table.ttyOf, containerId) };
}

export function ttysInUse(table: TtyTable): number {
  return table.holders.size;
}
