import { describe, expect, it } from 'vitest';
import type { FolderRecord } from '../../../machines/events.js';
import { latestDeaths } from '../../../machines/host/deathsSeen.js';
import {
  deathsAfter,
  decideRelist,
  decideStop,
  LIST_LAG_MS,
  reserveFolders,
  timeNanoOf,
} from '../../../machines/host/reconciliation.js';
import { createTtyTable } from '../../../machines/host/ttyTable.js';
import { deathsOldestFirst } from '../../support/deathsSeen.js';

const folder = (containerId: string, extra: Partial<FolderRecord>): FolderRecord => ({
  containerId,
  hostPort: undefined,
  tty: undefined,
  dpi: undefined,
  ready: false,
  ttyWrittenAtMs: undefined,
  ...extra,
});

describe('reserveFolders', () => {
  it("reserves each folder's TTY and host port; of two folders with one TTY the older keeps it", () => {
    const reserved = reserveFolders(createTtyTable(256), new Map(), [
      folder('young', { tty: 12, hostPort: 40002, ttyWrittenAtMs: 2000 }),
      folder('old', { tty: 12, hostPort: 40001, ttyWrittenAtMs: 1000 }),
      folder('other', { tty: 11, hostPort: 40001, ttyWrittenAtMs: 3000 }),
    ]);
    expect(reserved.ttyTable.holders).toEqual(
      new Map([
        [12, 'old'],
        [11, 'other'],
      ]),
    );
    // A host port already reserved is not taken over by a later folder.
    expect(reserved.hostPorts).toEqual(
      new Map([
        [40001, 'old'],
        [40002, 'young'],
      ]),
    );
    expect([...reserved.adoptable.keys()]).toEqual(['old', 'young', 'other']);
  });
});

describe('decideRelist', () => {
  it('spawns folders of an earlier run and untracked running containers, not the ECS agent', () => {
    const decision = decideRelist(
      new Map([['tracked', { startedAtMs: 100 }]]),
      new Map([
        ['adopted', folder('adopted', {})],
        ['gone', folder('gone', {})],
      ]),
      [
        { containerId: 'tracked', name: 'a' },
        { containerId: 'adopted', name: 'b' },
        { containerId: 'new', name: 'c' },
        { containerId: 'agent', name: 'ecs-agent' },
      ],
      1000,
      undefined,
    );
    expect(decision.spawn.sort()).toEqual(['adopted', 'gone', 'new']);
    expect(decision.adoptedButGone).toEqual(['gone']);
    expect(decision.died).toEqual([]);
  });

  it('finds dead only what started well before the list was asked for', () => {
    const listedAtMs = 10_000;
    const decision = decideRelist(
      new Map([
        ['before', { startedAtMs: listedAtMs - LIST_LAG_MS - 1 }],
        // The engine may not show it yet: seen once in 800 starts (see LIST_LAG_MS).
        ['justBefore', { startedAtMs: listedAtMs - 1 }],
        ['after', { startedAtMs: listedAtMs + 100 }],
        ['inspecting', { startedAtMs: undefined }],
      ]),
      new Map(),
      [],
      listedAtMs,
      undefined,
    );
    expect(decision.died).toEqual(['before']);
  });

  it('does not bring back a container whose death the list may not know of, but does one restarted since', () => {
    const listedAtMs = 10_000;
    const decision = decideRelist(
      new Map(),
      new Map(),
      [
        { containerId: 'diedAfter', name: 'a' },
        { containerId: 'diedJustBefore', name: 'b' },
        { containerId: 'restarted', name: 'c' },
      ],
      listedAtMs,
      deathsOldestFirst([
        ['diedAfter', listedAtMs + 1],
        ['diedJustBefore', listedAtMs - LIST_LAG_MS],
        ['restarted', listedAtMs - LIST_LAG_MS - 1],
      ]),
    );
    expect(decision.spawn).toEqual(['restarted']);
  });
});

describe('deathsAfter', () => {
  it('keeps only the deaths a later list could still be older than', () => {
    const listedAtMs = 10_000;
    const deaths = deathsOldestFirst([
      ['before', listedAtMs - LIST_LAG_MS - 1],
      ['within', listedAtMs - LIST_LAG_MS],
      ['after', listedAtMs + 1],
    ]);
    expect([...latestDeaths(deathsAfter(deaths, listedAtMs)).keys()]).toEqual(['after', 'within']);
  });
});

describe('decideStop', () => {
  const tracked = new Map([
    ['live', { startedAtMs: 100 }],
    ['dead', { startedAtMs: 100 }],
    ['justStarted', { startedAtMs: 9_500 }],
    ['late', { startedAtMs: 12_000 }],
  ]);

  it('drains what the list shows dead and lets every other container go', () => {
    expect(decideStop(tracked, ['live'], 10_000)).toEqual({
      leaving: ['live', 'justStarted', 'late'],
      dead: ['dead'],
    });
  });

  it('lets every container go when the engine did not answer', () => {
    expect(decideStop(tracked, undefined, 0)).toEqual({
      leaving: ['live', 'dead', 'justStarted', 'late'],
      dead: [],
    });
  });
});

it('writes a local instant as the engine writes its event times', () => {
  expect(timeNanoOf(1234)).toBe('1234000000');
});
