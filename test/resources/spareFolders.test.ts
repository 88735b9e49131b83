import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeFilesAtomic, type WriteStrategy } from '../../src/resources/atomicFile.js';
import {
  MAX_HELD_TEMPS,
  MAX_KEPT_SPARES,
  SPARE_FOLDER_COUNT,
  SPARE_REFILL_BATCH,
  SpareFolders,
} from '../../src/resources/spareFolders.js';
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
afterEach(async () => {
  await spares.stop();
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

  it("removes an earlier process's spare that is not whole before making its own", async () => {
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
    await orphan.stop();
  });

  it('once stopped, closes what it holds and makes no more', async () => {
    spares.fill();
    await allMade();
    const folder = path.join(root, 'a'.repeat(64));
    expect(openUnderRoot()).toBe(SPARE_FOLDER_COUNT * NAMES.length);
    await spares.stop();
    expect(openUnderRoot()).toBe(0);
    expect(await spares.takeAs(folder)).toBeUndefined();
    spares.fill();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(spareNames()).toHaveLength(SPARE_FOLDER_COUNT);
  });
});

describe("a container's folder taken back as a spare", () => {
  /** A folder as a start leaves it: the start files with their values, plus `extra` files. */
  function containerFolder(extra: Record<string, string> = {}): string {
    const folder = path.join(root, 'c'.repeat(64));
    fs.mkdirSync(folder, { mode: 0o755 });
    const files = { [NAMES[0]!]: '40001', [NAMES[1]!]: '100', ...extra };
    for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(folder, name), content);
    return folder;
  }

  it('takes it back: the start files become its temps, open as they are; the rest goes', async () => {
    const folder = containerFolder({ DPI: '192', '.ready': '.ready' });
    const inodes = NAMES.map((n) => fs.statSync(path.join(folder, n)).ino);
    expect(spares.takeBack(folder, fs.readdirSync(folder))).toBe(true);
    expect(fs.existsSync(folder)).toBe(false);
    expect(spares.readyCount).toBe(1);
    const [spare] = spareNames();
    const temps = fs.readdirSync(path.join(root, spare!)).sort();
    expect(temps).toHaveLength(NAMES.length);
    expect(temps.every((t) => t.endsWith('.tmp'))).toBe(true);
    expect(openUnderRoot()).toBe(NAMES.length);
    // Taken by a start, its temps are the same files, holding what they held until written.
    const taken = await spares.takeAs(path.join(root, 'd'.repeat(64)), 'inline');
    expect(taken!.map((t) => fs.fstatSync(t.fd).ino)).toEqual(inodes);
    expect(taken!.map((t) => t.holds)).toEqual([5, 3]);
    expect(failures).toEqual([]);
  });

  it('keeps the folders of a burst beyond those made ahead, up to MAX_KEPT_SPARES, and makes none for them', async () => {
    expect(MAX_KEPT_SPARES).toBeGreaterThanOrEqual(100);
    await spares.stop();
    const keep = SPARE_FOLDER_COUNT + 3;
    spares = new SpareFolders(root, 0o755, NAMES, (error) => failures.push(error), keep);
    spares.fill();
    await allMade();
    const made = new Set(spareNames());
    for (let i = 0; i < 3; i++) {
      const folder = containerFolder();
      expect(spares.takeBack(folder, fs.readdirSync(folder))).toBe(true);
    }
    expect(spares.readyCount).toBe(keep);
    // Full: the next is left where it is, for the caller to remove.
    const folder = containerFolder();
    expect(spares.takeBack(folder, fs.readdirSync(folder))).toBe(false);
    expect(fs.readdirSync(folder).sort()).toEqual([...NAMES].sort());
    fs.rmSync(folder, { recursive: true });
    // A burst takes them all, the ones made ahead first; a fill makes none while enough are ready.
    for (let i = 0; i < keep; i++) {
      const taken = await spares.takeAs(path.join(root, `${i}`.repeat(64).slice(0, 64)), 'inline');
      expect(taken).toHaveLength(NAMES.length);
      for (const t of taken!) fs.closeSync(t.fd);
      if (i === 0) {
        spares.fill();
        await new Promise((resolve) => setTimeout(resolve, 50));
        expect(spares.readyCount).toBe(keep - 1);
      }
    }
    expect(spareNames().filter((n) => !made.has(n))).toEqual([]);
    expect(spares.readyCount).toBe(0);
    expect(failures).toEqual([]);
  });

  it('leaves it where it is when enough are kept, or a start file is missing', async () => {
    await spares.stop();
    spares = new SpareFolders(root, 0o755, NAMES, (error) => failures.push(error), SPARE_FOLDER_COUNT);
    spares.fill();
    await allMade();
    const folder = containerFolder();
    expect(spares.takeBack(folder, fs.readdirSync(folder))).toBe(false);
    expect(fs.readdirSync(folder).sort()).toEqual([...NAMES].sort());
    await spares.takeAs(path.join(root, 'd'.repeat(64)), 'inline');
    fs.unlinkSync(path.join(folder, NAMES[1]!));
    expect(spares.takeBack(folder, fs.readdirSync(folder))).toBe(false);
    expect(fs.readdirSync(folder)).toEqual([NAMES[0]]);
    expect(spares.readyCount).toBe(SPARE_FOLDER_COUNT - 1);
  });

  it('reports a step that failed once the folder left its place, and keeps no half-made spare', () => {
    const folder = containerFolder();
    // An entry that is not there: its unlink fails after the folder was moved and its temps opened.
    expect(spares.takeBack(folder, [...fs.readdirSync(folder), 'gone'])).toBe(true);
    expect(fs.existsSync(folder)).toBe(false);
    expect(spares.readyCount).toBe(0);
    expect(spareNames()).toEqual([]);
    expect(openUnderRoot()).toBe(0);
    expect(String(failures[0])).toMatch(/ENOENT/);
  });

  it('holds the holdable files, in their order, for later writes, up to MAX_HELD_TEMPS; the rest goes', async () => {
    const folder = containerFolder({ DPI: '192', '.ready': '.ready', other: 'x' });
    const inodes = ['DPI', '.ready'].map((n) => fs.statSync(path.join(folder, n)).ino);
    expect(spares.takeBack(folder, fs.readdirSync(folder), ['DPI', '.ready'])).toBe(true);
    expect(spares.heldCount).toBe(2);
    const [spare] = spareNames();
    expect(fs.readdirSync(path.join(root, spare!))).toHaveLength(NAMES.length);
    expect(spares.takeHeldTemps(3)).toBeUndefined();
    const held = spares.takeHeldTemps(2)!;
    expect(held.map((t) => fs.fstatSync(t.fd).ino)).toEqual(inodes);
    expect(held.map((t) => t.holds)).toEqual([3, 6]);
    expect(held.every((t) => path.basename(path.dirname(t.temp)).startsWith('.held-'))).toBe(true);
    expect(spares.heldCount).toBe(0);
    for (const t of held) fs.closeSync(t.fd);
    // At most MAX_HELD_TEMPS: past that, they are unlinked as before.
    for (let i = 0; i <= MAX_HELD_TEMPS / 2; i++) {
      const taken = await spares.takeAs(path.join(root, 'd'.repeat(64)), 'inline');
      for (const t of taken!) fs.closeSync(t.fd);
      fs.rmSync(path.join(root, 'd'.repeat(64)), { recursive: true, force: true });
      const next = containerFolder({ DPI: '192', '.ready': '.ready' });
      expect(spares.takeBack(next, fs.readdirSync(next), ['DPI', '.ready'])).toBe(true);
    }
    expect(spares.heldCount).toBe(MAX_HELD_TEMPS);
    expect(openUnderRoot()).toBe(MAX_HELD_TEMPS + NAMES.length);
    await spares.stop();
    expect(openUnderRoot()).toBe(0);
    expect(failures).toEqual([]);
  });

  it('keeps what it took back before the leftovers of an earlier process were removed, and removes those', async () => {
    const leftovers = ['.spare-1-1', '.held-1-2'];
    for (const name of leftovers) fs.mkdirSync(path.join(root, name));
    const folder = containerFolder({ DPI: '192' });
    expect(spares.takeBack(folder, fs.readdirSync(folder), ['DPI'])).toBe(true);
    spares.fill();
    await allMade();
    const names = fs.readdirSync(root);
    for (const name of leftovers) expect(names).not.toContain(name);
    expect(names.filter((n) => n.startsWith('.held-'))).toHaveLength(1);
    expect(spares.takeHeldTemps(1)).toHaveLength(1);
    expect(failures).toEqual([]);
  });

  it('takes none once stopped', async () => {
    await spares.stop();
    const folder = containerFolder();
    expect(spares.takeBack(folder, fs.readdirSync(folder))).toBe(false);
    expect(fs.existsSync(folder)).toBe(true);
  });
});

describe('what an earlier process left, taken over', () => {
  const pid = 1;
  let numbered = 0;
  /** A temp's name as an earlier process gave it. */
  const tempOf = (name: string) => `.${name}.${pid}.${++numbered}.tmp`;
  /** A folder an earlier process made ahead or took back, holding `files` (name → content). */
  function leftFolder(name: string, files: Record<string, string>, mode = 0o755): string {
    const folder = path.join(root, name);
    fs.mkdirSync(folder);
    fs.chmodSync(folder, mode);
    for (const [file, content] of Object.entries(files)) fs.writeFileSync(path.join(folder, file), content);
    return folder;
  }
  const wholeSpare = (name: string, mode = 0o755) =>
    leftFolder(name, { [tempOf(NAMES[0]!)]: '40001', [tempOf(NAMES[1]!)]: '100' }, mode);
  const read = (p: string) => fs.readFileSync(p, 'utf8');

  it('takes its whole spares as its own, with their modes, and makes only what is missing', async () => {
    const left = [wholeSpare('.spare-1-1', 0o700), wholeSpare('.spare-1-2')];
    for (const file of fs.readdirSync(left[0]!)) fs.chmodSync(path.join(left[0]!, file), 0o600);
    spares.fill();
    await allMade();
    expect(spareNames()).toHaveLength(SPARE_FOLDER_COUNT);
    expect(spareNames().every((n) => n.startsWith(`.spare-${process.pid}-`))).toBe(true);
    // The two left are among them, their temps as they were (a spare made new has empty ones).
    const contents = spareNames().map((n) =>
      fs
        .readdirSync(path.join(root, n))
        .map((t) => read(path.join(root, n, t)))
        .sort(),
    );
    expect(contents.filter((c) => c.join() === '100,40001')).toHaveLength(2);
    expect(contents.filter((c) => c.join() === ',')).toHaveLength(SPARE_FOLDER_COUNT - 2);
    for (const folder of left) expect(fs.existsSync(folder)).toBe(false);
    // Taken by starts, they serve as any spare: the start files hold this write's bytes only.
    for (let i = 0; i < SPARE_FOLDER_COUNT; i++) {
      const folder = path.join(root, String(i).repeat(64));
      const temps = await spares.takeAs(folder);
      const files = [
        { file: path.join(folder, NAMES[0]!), content: '40002' },
        { file: path.join(folder, NAMES[1]!), content: '7' },
      ];
      await writeFilesAtomic(files, { temps });
      expect(fs.readdirSync(folder).sort()).toEqual([...NAMES].sort());
      expect(files.map((f) => read(f.file))).toEqual(['40002', '7']);
      expect(modeOf(folder)).toBe(0o755);
      for (const f of files) expect(modeOf(f.file)).toBe(0o644);
    }
    expect(failures).toEqual([]);
  });

  it('removes what is not a whole spare, and follows no link out of it', async () => {
    const outside = path.join(root, 'outside');
    fs.writeFileSync(outside, 'not ours');
    const left = [
      leftFolder('.spare-1-1', { [tempOf(NAMES[1]!)]: '' }),
      leftFolder('.spare-1-2', { [tempOf(NAMES[0]!)]: '', [tempOf(NAMES[1]!)]: '', '.mode-probe': '' }),
      leftFolder('.spare-1-3', { [tempOf(NAMES[0]!)]: '' }),
      wholeSpare('.spare-1-4'),
      leftFolder('.spare-1-5', { [tempOf(NAMES[0]!)]: '' }),
    ];
    fs.symlinkSync(outside, path.join(left[2]!, tempOf(NAMES[1]!)));
    // A temp with another name: a write into it would change that one too.
    const twoNames = fs.readdirSync(left[3]!).find((n) => n.startsWith(`.${NAMES[0]!}.`));
    fs.linkSync(path.join(left[3]!, twoNames!), path.join(root, 'another-name'));
    fs.mkdirSync(path.join(left[4]!, tempOf(NAMES[1]!)));
    // Names of theirs that are not folders at all, and one not numbered as this service numbers them.
    for (const name of ['.spare-1-6', '.held-1-7']) {
      fs.writeFileSync(path.join(root, name), '');
      left.push(path.join(root, name));
    }
    left.push(leftFolder('.spare-old', {}));
    spares.fill();
    await allMade();
    for (const folder of left) expect(fs.existsSync(folder)).toBe(false);
    expect(spareNames().every((n) => n.startsWith(`.spare-${process.pid}-`))).toBe(true);
    expect(read(outside)).toBe('not ours');
    expect(read(path.join(root, 'another-name'))).toBe('40001');
    expect(failures).toEqual([]);
  });

  it('takes its held files up to MAX_HELD_TEMPS, plain and small ones only, and removes their folder', async () => {
    const left = leftFolder('.held-1-9', {
      [tempOf('DPI')]: '192',
      [tempOf('.ready')]: '.ready',
      [tempOf('DPI')]: 'x'.repeat(5000),
      junk: '',
    });
    spares.fill();
    await allMade();
    expect(fs.existsSync(left)).toBe(false);
    expect(spares.heldCount).toBe(2);
    expect(fs.readdirSync(root).filter((n) => n.startsWith('.held-'))).toEqual([
      expect.stringMatching(new RegExp(`^\\.held-${process.pid}-`)),
    ]);
    const folder = path.join(root, 'c'.repeat(64));
    fs.mkdirSync(folder);
    const files = [
      { file: path.join(folder, 'DPI'), content: '96' },
      { file: path.join(folder, '.ready'), content: '.ready' },
    ];
    await writeFilesAtomic(files, { temps: spares.takeHeldTemps(2) });
    expect(files.map((f) => read(f.file))).toEqual(['96', '.ready']);
    expect(failures).toEqual([]);
  });

  it('keeps no more than it may keep, and removes the rest', async () => {
    await spares.stop();
    const keep = SPARE_FOLDER_COUNT + 2;
    spares = new SpareFolders(root, 0o755, NAMES, (error) => failures.push(error), keep);
    const left = Array.from({ length: keep + 3 }, (_, i) => wholeSpare(`.spare-1-${i + 1}`));
    spares.fill();
    await waitFor(
      'the leftovers handled',
      () => left.every((f) => !fs.existsSync(f)),
      FSYNCED_WORK_WAIT_MS,
      5,
    );
    expect(spares.readyCount).toBe(keep);
    // Enough are ready: none is made.
    spares.fill();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(spareNames()).toHaveLength(keep);
    expect(failures).toEqual([]);
  });

  it("never gives a name twice when an earlier process had this one's pid", async () => {
    const high = 1_000_000;
    const names = [`.spare-${process.pid}-${high}`, `.held-${process.pid}-${high + 1}`];
    wholeSpare(names[0]!);
    leftFolder(names[1]!, { [tempOf('DPI')]: '192' });
    spares.fill();
    await allMade();
    expect(spares.heldCount).toBe(1);
    for (const name of names) expect(fs.existsSync(path.join(root, name))).toBe(false);
    const numbers = fs
      .readdirSync(root)
      .filter((n) => n.startsWith('.spare-') || n.startsWith('.held-'))
      .map((n) => Number(n.slice(n.lastIndexOf('-') + 1)));
    expect(numbers.every((n) => n > high + 1)).toBe(true);
    expect(failures).toEqual([]);
  });

  it('stopped while it takes them over: closes what it took, makes nothing, keeps the rest for the next process', async () => {
    for (let i = 1; i <= 20; i++) wholeSpare(`.spare-1-${i}`);
    leftFolder('.held-1-30', { [tempOf('DPI')]: '192' });
    spares.fill();
    await spares.stop();
    expect(openUnderRoot()).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(spareNames().length).toBeLessThanOrEqual(20);
    expect(failures).toEqual([]);
    // Taken under this process's names or left as they were: none removed, none made new.
    const contents = (folder: string) =>
      fs
        .readdirSync(folder)
        .map((t) => read(path.join(folder, t)))
        .sort()
        .join();
    expect(spareNames().map((n) => contents(path.join(root, n)))).toEqual(Array(20).fill('100,40001'));
    const held = fs.readdirSync(root).filter((n) => n.startsWith('.held-'));
    expect(
      held.flatMap((n) => fs.readdirSync(path.join(root, n)).map((t) => read(path.join(root, n, t)))),
    ).toEqual(['192']);
  });
});
