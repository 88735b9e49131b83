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
