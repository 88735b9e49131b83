import { describe, expect, it } from 'vitest';
import {
  adoptTty,
  claimTty,
  createTtyTable,
  lowestFreeTty,
  releaseTty,
  ttyHeldBy,
  ttysInUse,
} from '../../../machines/host/ttyTable.js';

describe('ttyTable', () => {
  it('hands out the lowest free number from 10, never twice', () => {
    let table = createTtyTable();
    const first = claimTty(table, 'a');
    table = first.table;
    const second = claimTty(table, 'b');
    table = second.table;
    expect([first.tty, second.tty]).toEqual([10, 11]);
    expect(claimTty(table, 'a').tty).toBe(10);
    table = releaseTty(table, 'a');
    expect(claimTty(table, 'c').tty).toBe(10);
  });

  it('runs out after 246 containers and recovers when one leaves', () => {
    let table = createTtyTable(256);
    for (let i = 0; i < 246; i++) table = claimTty(table, `c${i}`).table;
    expect(ttysInUse(table)).toBe(246);
    expect(claimTty(table, 'late').tty).toBeUndefined();
    table = releaseTty(table, 'c77');
    expect(lowestFreeTty(table)).toBe(87);
    expect(claimTty(table, 'late').tty).toBe(87);
  });

  it('adopts a known number only when it is free and in range', () => {
    let table = createTtyTable(64);
    table = adoptTty(table, 'a', 42)!;
    expect(ttyHeldBy(table, 'a')).toBe(42);
    expect(adoptTty(table, 'b', 42)).toBeUndefined();
    expect(adoptTty(table, 'b', 5)).toBeUndefined();
    expect(adoptTty(table, 'b', 64)).toBeUndefined();
    expect(adoptTty(table, 'a', 43)).toBeUndefined();
    expect(adoptTty(table, 'a', 42)).toEqual(table);
  });

  it('refuses table sizes that leave nothing to assign', () => {
    expect(() => createTtyTable(10)).toThrow(/leaves no number/);
    expect(() => createTtyTable(0)).toThrow(/positive/);
  });
});

describe('the index from container to TTY', () => {
  it('mirrors the holders through any run of claims, adoptions and releases', () => {
    let table = createTtyTable(40, 10);
    let seed = 7;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let step = 0; step < 2_000; step++) {
      const containerId = `c${random(45)}`;
      const move = random(3);
      if (move === 0) table = claimTty(table, containerId).table;
      else if (move === 1) table = adoptTty(table, containerId, 10 + random(32)) ?? table;
      else table = releaseTty(table, containerId);
      const fromHolders = new Map([...table.holders].map(([tty, holder]) => [holder, tty]));
      expect(table.ttyOf).toEqual(fromHolders);
      expect(table.ttyOf.size).toBe(table.holders.size);
    }
  });
});
