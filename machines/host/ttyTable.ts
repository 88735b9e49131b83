/**
 * The TTY table: which TTY number each live container holds.
 *
 * Pure data and pure functions, so the host machine can own it in its context
 * (one writer) and the snapshot stays serialisable for the inspector. Numbers
 * below `firstAssignable` belong to the host and are never handed out.
 */
export interface TtyTable {
  readonly size: number;
  readonly firstAssignable: number;
  /** TTY number (as a string key, for JSON) to the container id that holds it. */
  readonly holders: Readonly<Record<string, string>>;
  /**
   * The same the other way round, container id to TTY: every claim and release
   * asks what a container holds, and a scan of `holders` made each one grow
   * with the number of containers.
   */
  readonly ttyOf: Readonly<Record<string, number>>;
}

export const DEFAULT_TTY_COUNT = 256;
export const RESERVED_TTYS = 10;

export function createTtyTable(size = DEFAULT_TTY_COUNT, firstAssignable = RESERVED_TTYS): TtyTable {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`TTY count must be a positive integer`);
  if (firstAssignable >= size) {
    throw new RangeError(`TTY count ${size} leaves no number above the ${firstAssignable} reserved ones`);
  }
  return { size, firstAssignable, holders: {}, ttyOf: {} };
}

export function ttyHeldBy(table: TtyTable, containerId: string): number | undefined {
  return Object.hasOwn(table.ttyOf, containerId) ? table.ttyOf[containerId] : undefined;
}

function withHolder(table: TtyTable, tty: number, containerId: string): TtyTable {
  return {
    ...table,
    holders: { ...table.holders, [tty]: containerId },
    ttyOf: { ...table.ttyOf, [containerId]: tty },
  };
}

/** The lowest free number, or undefined when every assignable number is held. */
export function lowestFreeTty(table: TtyTable): number | undefined {
  for (let tty = table.firstAssignable; tty < table.size; tty++) {
    if (table.holders[tty] === undefined) return tty;
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
  const holder = table.holders[tty];
  if (holder !== undefined && holder !== containerId) return undefined;
  if (holder === containerId) return table;
  if (ttyHeldBy(table, containerId) !== undefined) return undefined;
  return withHolder(table, tty, containerId);
}

export function releaseTty(table: TtyTable, containerId: string): TtyTable {
  const held = ttyHeldBy(table, containerId);
  if (held === undefined) return table;
  const holders = { ...table.holders };
  delete holders[held];
  const ttyOf = { ...table.ttyOf };
  delete ttyOf[containerId];
  return { ...table, holders, ttyOf };
}

export function ttysInUse(table: TtyTable): number {
  return Object.keys(table.holders).length;
}
