import { describe, expect, it } from 'vitest';
import { deathsKept, latestDeaths, withDeathSeen } from '../../../machines/host/deathsSeen.js';
import { deathsOldestFirst } from '../../support/deathsSeen.js';

describe('the deaths a list may not know of', () => {
  it('reads each container at its latest reported death', () => {
    const deaths = deathsOldestFirst([
      ['a', 100],
      ['b', 200],
      ['a', 300],
    ]);
    expect(latestDeaths(deaths)).toEqual(
      new Map([
        ['a', 300],
        ['b', 200],
      ]),
    );
    expect(latestDeaths(undefined).size).toBe(0);
  });

  it('leaves a chain a snapshot holds as it was when a death is added', () => {
    const before = deathsOldestFirst([['a', 100]]);
    const after = withDeathSeen(before, 'b', 200);
    expect(latestDeaths(before)).toEqual(new Map([['a', 100]]));
    expect([...latestDeaths(after).keys()]).toEqual(['b', 'a']);
  });

  it('prunes to the latest deaths it keeps, in their order, and drops shadowed ones', () => {
    const deaths = deathsOldestFirst([
      ['a', 500],
      ['b', 100],
      ['c', 400],
      ['a', 50],
    ]);
    const kept = deathsKept(deaths, (diedAtMs) => diedAtMs >= 100);
    // `a`'s latest death (50) is dropped, and its earlier one (500) with it: it was shadowed.
    expect(latestDeaths(kept)).toEqual(
      new Map([
        ['c', 400],
        ['b', 100],
      ]),
    );
    expect(kept?.containerId).toBe('c');
    expect(kept?.earlier?.containerId).toBe('b');
    expect(kept?.earlier?.earlier).toBeUndefined();
    expect(latestDeaths(deaths).get('a')).toBe(50);
  });

  it('hands back the same chain when it keeps every link, and none when it keeps none', () => {
    const deaths = deathsOldestFirst([
      ['a', 100],
      ['b', 200],
    ]);
    expect(deathsKept(deaths, () => true)).toBe(deaths);
    expect(deathsKept(deaths, () => false)).toBeUndefined();
    expect(deathsKept(undefined, () => true)).toBeUndefined();
  });
});
