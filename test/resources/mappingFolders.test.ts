import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { writeFilesAtomic } from '../../src/resources/atomicFile.js';
import {
  DPI_FILE,
  HOST_PORT_FILE,
  MappingFolders,
  MAX_VALUE_FILES,
  READY_FILE,
  TTY_FILE,
} from '../../src/resources/mappingFolders.js';
import { SPARE_FOLDER_COUNT, SPARE_REFILL_BATCH } from '../../src/resources/spareFolders.js';
import { removeUnlessMounted, temporaryRoot } from '../support/tempRoots.js';
import { FSYNCED_WORK_WAIT_MS, waitFor } from '../support/wait.js';

const ID = 'a'.repeat(64);
let root: string;
let folders: MappingFolders;
beforeEach(async () => {
  root = temporaryRoot('hs-folders-');
  folders = new MappingFolders(root);
  await folders.writeStartFiles(ID, 40000, 10);
});
afterEach(async () => {
  // Its spares hold their temps open: closed, and those still being made waited for, so that none
  // adds its folder while the root goes (ENOTEMPTY, in about one run of six before it waited).
  await folders.close();
  removeUnlessMounted(root);
});

// A rename puts a new inode in place: an unchanged inode means the file was not written again.
const inode = (name: string) => fs.statSync(path.join(root, ID, name)).ino;
const read = (name: string) => fs.readFileSync(path.join(root, ID, name), 'utf8');
const leftovers = () => fs.readdirSync(path.join(root, ID)).filter((f) => f.endsWith('.tmp'));
const valueFiles = () =>
  fs
    .readdirSync(path.join(root, ID))
    .filter((f) => f.startsWith('.DPI-'))
    .sort();

describe('mapping folders: DPI and .ready', () => {
  it('writes DPI then .ready the first time', async () => {
    await folders.writeDpi(ID, 96);
    expect(read(DPI_FILE)).toBe('96');
    expect(read(READY_FILE)).toBe('.ready');
    expect(read(TTY_FILE)).toBe('10');
  });

  it('a new DPI replaces DPI and leaves .ready as it is', async () => {
    await folders.writeDpi(ID, 96);
    const ready = inode(READY_FILE);
    const dpi = inode(DPI_FILE);
    await folders.writeDpi(ID, 144);
    expect(read(DPI_FILE)).toBe('144');
    expect(inode(DPI_FILE)).not.toBe(dpi);
    expect(inode(READY_FILE)).toBe(ready);
    expect(leftovers()).toEqual([]);
  });

  it('the DPI the folder already holds is not written again', async () => {
    await folders.writeDpi(ID, 96);
    const dpi = inode(DPI_FILE);
    await folders.writeDpi(ID, 96);
    expect(inode(DPI_FILE)).toBe(dpi);
    expect(read(DPI_FILE)).toBe('96');
  });

  it('a folder removed and made again gets .ready again', async () => {
    await folders.writeDpi(ID, 96);
    await folders.remove(ID);
    await folders.writeStartFiles(ID, 40001, 11);
    expect(fs.existsSync(path.join(root, ID, READY_FILE))).toBe(false);
    await folders.writeDpi(ID, 96);
    expect(read(DPI_FILE)).toBe('96');
    expect(read(READY_FILE)).toBe('.ready');
  });

  it('after a failed write the next one writes both files', async () => {
    await folders.writeDpi(ID, 96);
    const ready = inode(READY_FILE);
    // A folder where DPI should be: the rename onto it fails.
    fs.rmSync(path.join(root, ID, DPI_FILE));
    fs.mkdirSync(path.join(root, ID, DPI_FILE));
    await expect(folders.writeDpi(ID, 144)).rejects.toThrow();
    fs.rmdirSync(path.join(root, ID, DPI_FILE));
    // The same value as the failed request: it is written, not taken as in place.
    await folders.writeDpi(ID, 144);
    expect(read(DPI_FILE)).toBe('144');
    expect(inode(READY_FILE)).not.toBe(ready);
    expect(leftovers()).toEqual([]);
  });

  it('a new process (a restart) writes both files the first time', async () => {
    await folders.writeDpi(ID, 96);
    const ready = inode(READY_FILE);
    const restarted = new MappingFolders(root);
    await restarted.writeDpi(ID, 96);
    expect(inode(READY_FILE)).not.toBe(ready);
    expect(read(DPI_FILE)).toBe('96');
  });
});

describe('mapping folders: a DPI that changes', () => {
  it('shows a DPI shown before again without making a file, and frees none going back and forth', async () => {
    await folders.writeDpi(ID, 96);
    await folders.writeDpi(ID, 144);
    await folders.writeDpi(ID, 96);
    const at144 = inode('.DPI-144');
    const at96 = inode('.DPI-96');
    for (const dpi of [144, 96, 144, 96]) {
      await folders.writeDpi(ID, dpi);
      expect(read(DPI_FILE)).toBe(String(dpi));
      expect(inode(DPI_FILE)).toBe(dpi === 144 ? at144 : at96);
    }
    expect(inode('.DPI-144')).toBe(at144);
    expect(valueFiles()).toEqual(['.DPI-144', '.DPI-96']);
    expect(leftovers()).toEqual([]);
  });

  it('never changes a file a reader may hold open: the DPI it opened stays whole', async () => {
    await folders.writeDpi(ID, 96);
    await folders.writeDpi(ID, 144);
    const reader = fs.openSync(path.join(root, ID, DPI_FILE), 'r');
    try {
      for (const dpi of [96, 192, 144, 96]) await folders.writeDpi(ID, dpi);
      expect(fs.readFileSync(reader, 'utf8')).toBe('144');
    } finally {
      fs.closeSync(reader);
    }
    expect(read(DPI_FILE)).toBe('96');
  });

  it(`keeps at most ${MAX_VALUE_FILES} value files, the most recently shown`, async () => {
    await folders.writeDpi(ID, 96);
    const values = [100, 110, 120, 130, 140, 150, 120];
    for (const dpi of values) await folders.writeDpi(ID, dpi);
    expect(read(DPI_FILE)).toBe('120');
    expect(valueFiles()).toEqual(['.DPI-120', '.DPI-130', '.DPI-140', '.DPI-150']);
    expect(valueFiles().length).toBe(MAX_VALUE_FILES);
    expect(read(READY_FILE)).toBe('.ready');
  });

  it('removes the value files of an earlier process at its first change', async () => {
    await folders.writeDpi(ID, 96);
    await folders.writeDpi(ID, 144);
    await folders.writeDpi(ID, 96);
    const restarted = new MappingFolders(root);
    await restarted.writeDpi(ID, 120);
    expect(read(DPI_FILE)).toBe('120');
    await restarted.writeDpi(ID, 144);
    expect(read(DPI_FILE)).toBe('144');
    expect(valueFiles()).toEqual(['.DPI-144']);
    expect(fs.readFileSync(path.join(root, ID, '.DPI-144'), 'utf8')).toBe('144');
  });
});

describe('mapping folders: removal', () => {
  const folder = () => path.join(root, ID);

  it('removes the folder with its files, value files included', async () => {
    for (const dpi of [96, 144, 96]) await folders.writeDpi(ID, dpi);
    await folders.remove(ID);
    expect(fs.existsSync(folder())).toBe(false);
  });

  it('removes what a container made inside it too, and a folder already gone is no error', async () => {
    fs.mkdirSync(path.join(folder(), 'made', 'deeper'), { recursive: true });
    fs.writeFileSync(path.join(folder(), 'made', 'deeper', 'file'), 'x');
    fs.writeFileSync(path.join(folder(), 'note'), 'x');
    await folders.remove(ID);
    expect(fs.existsSync(folder())).toBe(false);
    await expect(folders.remove(ID)).resolves.toBeUndefined();
  });

  it('removes a plain file where the folder should be', async () => {
    fs.rmSync(folder(), { recursive: true });
    fs.writeFileSync(folder(), 'x');
    await folders.remove(ID);
    expect(fs.existsSync(folder())).toBe(false);
  });

  describe('on the event loop or on the thread pool', () => {
    const sync = () => [vi.spyOn(fs, 'readdirSync'), vi.spyOn(fs, 'unlinkSync'), vi.spyOn(fs, 'rmdirSync')];
    // No folder kept beyond those made ahead (the earlier writer's, taken over), which are all
    // there: each removal is a removal.
    beforeEach(async () => {
      await folders.close();
      folders = new MappingFolders(root, undefined, SPARE_FOLDER_COUNT);
      await folders.writeStartFiles(ID, 40000, 10);
      await waitFor(
        'the spares ready',
        () => folders.foldersReadyAhead === SPARE_FOLDER_COUNT,
        FSYNCED_WORK_WAIT_MS,
        5,
      );
    });
    afterEach(() => vi.restoreAllMocks());

    it('makes its calls on the event loop when no write is in flight', async () => {
      const spies = sync();
      await folders.remove(ID);
      expect(fs.existsSync(folder())).toBe(false);
      expect(spies.map((spy) => spy.mock.calls.length)).toEqual([1, 2, 1]);
    });

    it('leaves them to the thread pool while a write is in flight', async () => {
      const spies = sync();
      const writing = writeFilesAtomic([{ file: path.join(root, 'other'), content: 'x' }]);
      await folders.remove(ID);
      await writing;
      expect(fs.existsSync(folder())).toBe(false);
      expect(spies.map((spy) => spy.mock.calls.length)).toEqual([0, 0, 0]);
    });

    it('goes through the walk on either side for a folder inside', async () => {
      fs.mkdirSync(path.join(folder(), 'made'));
      const writing = writeFilesAtomic([{ file: path.join(root, 'other'), content: 'x' }]);
      await folders.remove(ID);
      await writing;
      expect(fs.existsSync(folder())).toBe(false);
      fs.mkdirSync(path.join(folder(), 'made'), { recursive: true });
      await folders.remove(ID);
      expect(fs.existsSync(folder())).toBe(false);
    });
  });
});

describe('mapping folders: start files in a folder made ahead', () => {
  const OTHER = 'b'.repeat(64);
  const THIRD = 'c'.repeat(64);
  const spareFolders = () => fs.readdirSync(root).filter((n) => n.startsWith('.spare-'));
  let ahead: MappingFolders;
  const sparesReady = (writer: MappingFolders, what: string) =>
    waitFor(what, () => writer.foldersReadyAhead === SPARE_FOLDER_COUNT, FSYNCED_WORK_WAIT_MS, 5);
  beforeEach(async () => {
    // The outer set-up's writer makes spares of its own in this root after its write. Made while
    // `ahead` removed leftovers, one could outlive the removal and be counted here: let them be
    // made and closed first, so that `ahead` removes every one of them.
    await sparesReady(folders, "the outer writer's spares made");
    await folders.close();
    ahead = new MappingFolders(root);
    await ahead.ensureRoot();
    await sparesReady(ahead, 'the spares made');
  });
  afterEach(() => ahead.close());

  it('a start takes a folder made ahead: its folder and files are made by no one on the way', async () => {
    const inodes = new Set(spareFolders().map((n) => fs.statSync(path.join(root, n)).ino));
    await ahead.writeStartFiles(OTHER, 40001, 11);
    expect(inodes.has(fs.statSync(path.join(root, OTHER)).ino)).toBe(true);
    expect(fs.readdirSync(path.join(root, OTHER)).sort()).toEqual([HOST_PORT_FILE, TTY_FILE]);
    expect(fs.readFileSync(path.join(root, OTHER, TTY_FILE), 'utf8')).toBe('11');
    expect(fs.readFileSync(path.join(root, OTHER, HOST_PORT_FILE), 'utf8')).toBe('40001');
    expect(fs.statSync(path.join(root, OTHER)).mode & 0o777).toBe(0o755);
    expect(fs.statSync(path.join(root, OTHER, TTY_FILE)).mode & 0o777).toBe(0o644);
    // Made again once as many as a refill makes are gone, after the write that took the last of them.
    for (let i = 1; i < SPARE_REFILL_BATCH; i++)
      await ahead.writeStartFiles(String(i).repeat(64), 40001 + i, 11 + i);
    await sparesReady(ahead, 'the spares made again');
    expect(spareFolders()).toHaveLength(SPARE_FOLDER_COUNT);
    expect(spareFolders().some((n) => inodes.has(fs.statSync(path.join(root, n)).ino))).toBe(true);
  });

  it('a folder that already holds files (an adopted container) is written where it is', async () => {
    const before = fs.statSync(path.join(root, ID)).ino;
    await ahead.writeStartFiles(ID, 40002, 12);
    expect(fs.statSync(path.join(root, ID)).ino).toBe(before);
    expect(fs.readFileSync(path.join(root, ID, TTY_FILE), 'utf8')).toBe('12');
    expect(spareFolders()).toHaveLength(SPARE_FOLDER_COUNT);
  });

  it('a burst that takes every spare still writes every folder', async () => {
    const ids = Array.from({ length: 3 * SPARE_FOLDER_COUNT }, (_, i) => String(i + 1).repeat(64));
    await Promise.all(ids.map((id, i) => ahead.writeStartFiles(id, 41000 + i, 20 + i)));
    for (const [i, id] of ids.entries()) {
      expect(fs.readdirSync(path.join(root, id)).sort()).toEqual([HOST_PORT_FILE, TTY_FILE]);
      expect(fs.readFileSync(path.join(root, id, TTY_FILE), 'utf8')).toBe(String(20 + i));
    }
  });

  it("a container's folder removed while a spare is wanted is the next start's: no file made or freed but DPI and .ready", async () => {
    await ahead.writeStartFiles(OTHER, 40001, 100);
    await ahead.writeDpi(OTHER, 192);
    const ino = (...parts: string[]) => fs.statSync(path.join(root, ...parts)).ino;
    const before = { folder: ino(OTHER), tty: ino(OTHER, TTY_FILE), hostPort: ino(OTHER, HOST_PORT_FILE) };
    await ahead.remove(OTHER);
    expect(fs.existsSync(path.join(root, OTHER))).toBe(false);
    expect(ahead.foldersReadyAhead).toBe(SPARE_FOLDER_COUNT);
    expect(spareFolders()).toHaveLength(SPARE_FOLDER_COUNT);
    // Taken last: every spare goes to a start, and the one taken back is among them.
    const ids = Array.from({ length: SPARE_FOLDER_COUNT }, (_, i) => String(i + 1).repeat(64));
    for (const [i, id] of ids.entries()) await ahead.writeStartFiles(id, 40010 + i, 7);
    const reused = ids.find((id) => ino(id) === before.folder)!;
    expect(reused).toBeDefined();
    expect(fs.readdirSync(path.join(root, reused)).sort()).toEqual([HOST_PORT_FILE, TTY_FILE]);
    expect(ino(reused, TTY_FILE)).toBe(before.tty);
    expect(ino(reused, HOST_PORT_FILE)).toBe(before.hostPort);
    // Written over from the start and cut to its own length: "100" became "7".
    expect(fs.readFileSync(path.join(root, reused, TTY_FILE), 'utf8')).toBe('7');
    expect(fs.readFileSync(path.join(root, reused, HOST_PORT_FILE), 'utf8')).toBe(
      String(40010 + ids.indexOf(reused)),
    );
    expect(fs.statSync(path.join(root, reused, TTY_FILE)).mode & 0o777).toBe(0o644);
  });

  it("its DPI and .ready are held for the next container's first DPI: the same files, only its values, no temp left", async () => {
    await ahead.writeStartFiles(OTHER, 40001, 100);
    await ahead.writeDpi(OTHER, 192);
    const ino = (...parts: string[]) => fs.statSync(path.join(root, ...parts)).ino;
    const held = [ino(OTHER, DPI_FILE), ino(OTHER, READY_FILE)];
    await ahead.remove(OTHER);
    // Neither is in a spare: the start four starts later holds no stale DPI or .ready.
    for (const spare of spareFolders()) expect(fs.readdirSync(path.join(root, spare))).toHaveLength(2);
    await ahead.writeStartFiles(ID, 40002, 12);
    await ahead.writeDpi(ID, 96);
    expect([ino(ID, DPI_FILE), ino(ID, READY_FILE)]).toEqual(held);
    // "192" cut to "96"; .ready says .ready; modes as written anew.
    expect(fs.readFileSync(path.join(root, ID, DPI_FILE), 'utf8')).toBe('96');
    expect(fs.readFileSync(path.join(root, ID, READY_FILE), 'utf8')).toBe(READY_FILE);
    expect(fs.statSync(path.join(root, ID, DPI_FILE)).mode & 0o777).toBe(0o644);
    expect(fs.readdirSync(path.join(root, ID)).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    // Once taken, a first DPI makes its files again.
    await ahead.writeStartFiles(THIRD, 40003, 13);
    await ahead.writeDpi(THIRD, 144);
    expect(held).not.toContain(ino(THIRD, DPI_FILE));
    expect(fs.readFileSync(path.join(root, THIRD, DPI_FILE), 'utf8')).toBe('144');
  });

  it('a DPI shown through a value file is held once the value files are gone, and the next first DPI is whole', async () => {
    await ahead.writeStartFiles(OTHER, 40001, 100);
    await ahead.writeDpi(OTHER, 192);
    await ahead.writeDpi(OTHER, 96);
    // `DPI` is then a second name of `.DPI-96`: held only once that name is gone.
    expect(fs.statSync(path.join(root, OTHER, DPI_FILE)).nlink).toBe(2);
    const dpiIno = fs.statSync(path.join(root, OTHER, DPI_FILE)).ino;
    await ahead.remove(OTHER);
    await ahead.writeStartFiles(ID, 40002, 12);
    await ahead.writeDpi(ID, 144);
    expect(fs.statSync(path.join(root, ID, DPI_FILE)).ino).toBe(dpiIno);
    expect(fs.statSync(path.join(root, ID, DPI_FILE)).nlink).toBe(1);
    expect(fs.readFileSync(path.join(root, ID, DPI_FILE), 'utf8')).toBe('144');
    expect(fs.readFileSync(path.join(root, ID, READY_FILE), 'utf8')).toBe(READY_FILE);
    expect(fs.readdirSync(path.join(root, ID)).sort()).toEqual(
      [DPI_FILE, READY_FILE, HOST_PORT_FILE, TTY_FILE].sort(),
    );
  });

  it('a folder removed while every spare made ahead is ready is kept too, up to the count kept', async () => {
    await ahead.close();
    const kept = SPARE_FOLDER_COUNT + 1;
    ahead = new MappingFolders(root, undefined, kept);
    await ahead.ensureRoot();
    await sparesReady(ahead, 'the spares made');
    await ahead.writeStartFiles(OTHER, 40001, 11);
    await ahead.writeStartFiles(THIRD, 40002, 12);
    await sparesReady(ahead, 'the spares made again');
    const inodes = [ID, OTHER, THIRD].map((id) => fs.statSync(path.join(root, id)).ino);
    for (const id of [ID, OTHER, THIRD]) await ahead.remove(id);
    for (const id of [ID, OTHER, THIRD]) expect(fs.existsSync(path.join(root, id))).toBe(false);
    // Two of them kept, the third removed.
    expect(spareFolders()).toHaveLength(kept);
    const spareInodes = spareFolders().map((n) => fs.statSync(path.join(root, n)).ino);
    expect(inodes.filter((ino) => spareInodes.includes(ino))).toEqual(inodes.slice(0, 1));
    expect(ahead.foldersReadyAhead).toBe(kept);
  });

  it('a folder removed while the spares kept are at their most, or while a write is in flight, is removed as before', async () => {
    await ahead.close();
    ahead = new MappingFolders(root, undefined, SPARE_FOLDER_COUNT);
    await ahead.ensureRoot();
    await sparesReady(ahead, 'the spares made');
    await ahead.remove(ID);
    expect(fs.existsSync(path.join(root, ID))).toBe(false);
    expect(spareFolders()).toHaveLength(SPARE_FOLDER_COUNT);
    await ahead.writeStartFiles(OTHER, 40001, 11);
    const writing = writeFilesAtomic([{ file: path.join(root, 'other'), content: 'x' }]);
    await ahead.remove(OTHER);
    await writing;
    expect(fs.existsSync(path.join(root, OTHER))).toBe(false);
    expect(ahead.foldersReadyAhead).toBe(SPARE_FOLDER_COUNT - 1);
  });

  it('the folders made ahead are not container folders', async () => {
    await ahead.writeStartFiles(OTHER, 40001, 11);
    expect((await ahead.list()).sort()).toEqual([ID, OTHER].sort());
  });
});

describe('mapping folders: paths', () => {
  it('names a folder as path.join would, however the root is written', () => {
    for (const written of ['/srv/fractal', '/srv/fractal/', '/srv//fractal/./', 'fractal/mappings', '/']) {
      expect(new MappingFolders(written).folderOf(ID)).toBe(path.join(written, ID));
    }
  });

  it('writes and removes a folder under a root written with a trailing "/." ', async () => {
    const other = new MappingFolders(`${root}/./`);
    const id = 'b'.repeat(64);
    await other.writeStartFiles(id, 40001, 11);
    await other.writeDpi(id, 144);
    expect(fs.readdirSync(path.join(root, id)).sort()).toEqual(
      [DPI_FILE, READY_FILE, HOST_PORT_FILE, TTY_FILE].sort(),
    );
    await other.remove(id);
    expect(fs.existsSync(path.join(root, id))).toBe(false);
    await other.close();
  });
});
