import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { WriteStrategy } from '../../src/resources/atomicFile.js';
import { SPARE_FOLDER_COUNT, SPARE_REFILL_BATCH, SpareFolders } from '../../src/resources/spareFolders.js';
import { FSYNCED_WORK_WAIT_MS, waitFor } from '../support/wait.js';

const NAMES = ['hostPort_for_my_32262_tcp', 'tty'];
let root: string;
let failures: unknown[];
let spares: SpareFolders;
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'hs-spares-'));
  failures = [];
  spares = new SpareFolders(root, 0o755, NAMES, (error) => failures.push(error));
});
afterEach(() => {
  spares.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

const spareNames = () =>
  fs
    .readdirSync(root)
    .filter((n) => n.startsWith('.spare-'))
    .sort();
const allMade = () =>
  waitFor('the spares made', () => spares.readyCount === SPARE_FOLDER_COUNT, FSYNCED_WORK_WAIT_MS, 5);
/** Fills with the process's umask set to `mask` until every spare is made. */
async function allMadeUnderUmask(mask: number): Promise<void> {
  const previous = process.umask(mask);
  try {
    spares.fill();
    await allMade();
  } finally {
    process.umask(previous);
  }
}
const modeOf = (p: string) => fs.statSync(p).mode & 0o777;
/** This process's open descriptors on files under the root. */
const openUnderRoot = () =>
  fs.readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return fs.readlinkSync(`/proc/self/fd/${fd}`).startsWith(root + path.sep);
    } catch {
      return false;
    }
  }).length;

describe('folders made ahead', () => {
  it('makes them with their modes and sets them no more where a new folder and file get the mode asked for', async () => {
    await allMadeUnderUmask(0o022);
    expect(spares.modesAsAsked).toBe(true);
    for (const name of spareNames()) {
      const folder = path.join(root, name);
      expect(modeOf(folder)).toBe(0o755);
      // The probe of the first one is gone: only the temps are left.
      const temps = fs.readdirSync(folder);
      expect(temps).toHaveLength(NAMES.length);
      for (const t of temps) expect(modeOf(path.join(folder, t))).toBe(0o644);
    }
  });

  it('makes hidden folders of the exact mode, each with an empty open temp per file, whatever the umask', async () => {
    await allMadeUnderUmask(0o077);
    // The umask takes bits away: each folder's and file's mode is set again after it is made.
    expect(spares.modesAsAsked).toBe(false);
    for (const name of spareNames()) {
      const folder = path.join(root, name);
      expect(name).toMatch(new RegExp(`^\\.spare-${process.pid}-\\d+$`));
      expect(modeOf(folder)).toBe(0o755);
      const temps = fs.readdirSync(folder).sort();
      expect(temps).toHaveLength(NAMES.length);
      for (const t of temps) {
        expect(t).toMatch(/^\..+\.tmp$/);
        expect(modeOf(path.join(folder, t))).toBe(0o644);
        expect(fs.statSync(path.join(folder, t)).size).toBe(0);
      }
    }
    expect(failures).toEqual([]);
  });

  it.each<WriteStrategy>(['inline', 'threadPool'])(
    'a start takes one under its own name, with its temps open there; fill makes them again by twos (%s)',
    async (strategy) => {
      spares.fill();
      await allMade();
      const before = new Map(spareNames().map((n) => [fs.statSync(path.join(root, n)).ino, n]));
      const folder = path.join(root, 'c'.repeat(64));

      const temps = await spares.takeAs(folder, strategy);

      expect(temps).toHaveLength(NAMES.length);
      const taken = before.get(fs.statSync(folder).ino);
      expect(taken).toBeDefined();
      for (const [i, t] of temps!.entries()) {
        expect(path.dirname(t.temp)).toBe(folder);
        expect(path.basename(t.temp)).toContain(NAMES[i]);
        fs.writeSync(t.fd, 'x');
        fs.closeSync(t.fd);
        expect(fs.readFileSync(t.temp, 'utf8')).toBe('x');
      }
      expect(spareNames()).toHaveLength(SPARE_FOLDER_COUNT - 1);
      // One gone is not a refill: they are made again SPARE_REFILL_BATCH at a time.
      spares.fill();
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(spareNames()).toHaveLength(SPARE_FOLDER_COUNT - 1);
      expect(spares.readyCount).toBe(SPARE_FOLDER_COUNT - 1);
      const takenToo = [taken];
      for (let i = 1; i < SPARE_REFILL_BATCH; i++) {
        const other = path.join(root, String(i).repeat(64));
        expect(await spares.takeAs(other, strategy)).toBeDefined();
        takenToo.push(before.get(fs.statSync(other).ino));
      }
      spares.fill();
      await allMade();
      expect(spareNames()).toHaveLength(SPARE_FOLDER_COUNT);
      for (const name of takenToo) expect(spareNames()).not.toContain(name);
    },
  );

  it.each<WriteStrategy>(['inline', 'threadPool'])(
    'gives none for a folder that already holds files, and keeps the spare (%s)',
    async (strategy) => {
      spares.fill();
      await allMade();
      const folder = path.join(root, 'd'.repeat(64));
      fs.mkdirSync(folder);
      fs.writeFileSync(path.join(folder, 'tty'), '12');

      expect(await spares.takeAs(folder, strategy)).toBeUndefined();

      expect(fs.readdirSync(folder)).toEqual(['tty']);
      expect(spareNames()).toHaveLength(SPARE_FOLDER_COUNT);
    },
  );

  it('drops a spare that someone removed, and the next fill makes another', async () => {
    spares.fill();
    await allMade();
    for (const name of spareNames()) fs.rmSync(path.join(root, name), { recursive: true });
    for (let i = 0; i < SPARE_FOLDER_COUNT; i++) {
      expect(await spares.takeAs(path.join(root, 'a'.repeat(64)))).toBeUndefined();
    }
    expect(spares.readyCount).toBe(0);
    spares.fill();
    await allMade();
    expect(await spares.takeAs(path.join(root, 'a'.repeat(64)))).toBeDefined();
  });

  it('gives none before any is made, or once all are taken', async () => {
    expect(await spares.takeAs(path.join(root, 'e'.repeat(64)))).toBeUndefined();
    spares.fill();
    await allMade();
    for (let i = 0; i < SPARE_FOLDER_COUNT; i++) {
      expect(await spares.takeAs(path.join(root, String(i).repeat(64)))).toBeDefined();
    }
    expect(await spares.takeAs(path.join(root, 'f'.repeat(64)))).toBeUndefined();
  });

  it("removes an earlier process's spares before making its own", async () => {
    const leftover = path.join(root, '.spare-1-1');
    fs.mkdirSync(leftover);
    fs.writeFileSync(path.join(leftover, '.tty.1.1.tmp'), '');
    spares.fill();
    await allMade();
    expect(fs.existsSync(leftover)).toBe(false);
    expect(spareNames().every((n) => n.startsWith(`.spare-${process.pid}-`))).toBe(true);
  });

  it('reports a spare it could not make, and starts then make their own', async () => {
    const gone = path.join(root, 'gone');
    const orphan = new SpareFolders(gone, 0o755, NAMES, (error) => failures.push(error));
    orphan.fill();
    await waitFor('the failures reported', () => failures.length >= 1, 5000, 5);
    expect(String(failures[0])).toMatch(/ENOENT/);
    expect(await orphan.takeAs(path.join(gone, 'a'.repeat(64)))).toBeUndefined();
    orphan.stop();
  });

  it('once stopped, closes what it holds and makes no more', async () => {
    spares.fill();
    await allMade();
    const folder = path.join(root, 'a'.repeat(64));
    expect(openUnderRoot()).toBe(SPARE_FOLDER_COUNT * NAMES.length);
    spares.stop();
    expect(openUnderRoot()).toBe(0);
    expect(await spares.takeAs(folder)).toBeUndefined();
    spares.fill();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(spareNames()).toHaveLength(SPARE_FOLDER_COUNT);
  });
});
