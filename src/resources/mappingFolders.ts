/**
 * The per-container folders under `containerResourceMappings/`, which the
 * containers read: `hostPort_for_my_32262_tcp`, `tty`, `DPI`, `.ready`.
 */
import fsSync, { type Dirent } from 'node:fs';
import fs from 'node:fs/promises';
import type { FolderRecord } from '../../machines/events.js';
import path from 'node:path';
import { currentStrategy, linkInPlace, writeFilesAtomic } from './atomicFile.js';
import { SpareFolders } from './spareFolders.js';

export const HOST_PORT_FILE = 'hostPort_for_my_32262_tcp';
export const TTY_FILE = 'tty';
export const DPI_FILE = 'DPI';
export const READY_FILE = '.ready';

const CONTAINER_ID = /^[0-9a-f]{12,128}$/;
const FOLDER_MODE = 0o755;

/**
 * A file of a container's folder: what `path.join` returns for a folder made
 * by `folderOf` and a name with no `/` (ours, or one `readdir` gave), without
 * its normalising walk over every character. A lifecycle joins about a dozen
 * paths, and this code runs cold on a host: the joins were 0.3 ms of a
 * lifecycle's main thread in a settled profile (bench/MEASUREMENTS.md).
 */
const inFolder = (folder: string, name: string) => `${folder}/${name}`;

/** The files a folder taken back holds as temps for the next first DPI (./spareFolders.ts, `takeBack`). */
const HELD_AFTER_REMOVAL = [DPI_FILE, READY_FILE];

/**
 * The most value files a folder keeps (the one shown among them): a few cover
 * a DPI that goes back and forth; the least recently shown goes first.
 */
export const MAX_VALUE_FILES = 4;
const VALUE_FILE = /^\.DPI-\d+$/;
const valueFileName = (dpi: number) => `.${DPI_FILE}-${dpi}`;

interface DpiShown {
  dpi: number;
  /** DPI values with a file in the folder, least recently shown first; undefined until the first is made. */
  valueFiles: readonly number[] | undefined;
}

/** The calls a removal makes, on the event loop or on the thread pool (`remove`). */
interface RemovalCalls {
  readdir(folder: string): Dirent[] | Promise<Dirent[]>;
  unlink(file: string): void | Promise<void>;
  rmdir(folder: string): void | Promise<void>;
}
const callsInline: RemovalCalls = {
  readdir: (folder) => fsSync.readdirSync(folder, { withFileTypes: true }),
  unlink: (file) => fsSync.unlinkSync(file),
  rmdir: (folder) => fsSync.rmdirSync(folder),
};
const callsOnThreadPool: RemovalCalls = {
  readdir: (folder) => fs.readdir(folder, { withFileTypes: true }),
  unlink: (file) => fs.unlink(file),
  rmdir: (folder) => fs.rmdir(folder),
};

/** What is already gone needs no removing. */
const unlessGone = (error: NodeJS.ErrnoException) => {
  if (error.code !== 'ENOENT') throw error;
};

export class MappingFolders {
  /**
   * What each folder's `DPI` shows, with `.ready` beside it, as this process
   * wrote them. This object is the folders' one writer and every removal goes
   * through it, so what it recorded is what is on disk. An entry is dropped
   * before every write and kept only once the write succeeded: after a
   * failure, or a restart, the next write is a full one.
   */
  private readonly dpiShown = new Map<string, DpiShown>();

  /** Folders made ahead, with their start files' temps (./spareFolders.ts). */
  private readonly spares: SpareFolders;

  /** `root` normalised, ending in `/`: a container's folder is this and its id. */
  private readonly folderPrefix: string;

  /**
   * @param onSpareFailure told when a folder could not be made ahead; starts then make their own
   * @param keptSpares at most this many removed folders kept for later starts (MAX_KEPT_SPARES; tests set fewer)
   */
  constructor(
    readonly root: string,
    onSpareFailure: (error: unknown) => void = () => {},
    keptSpares?: number,
  ) {
    this.folderPrefix = path.join(root, '/');
    this.spares = new SpareFolders(root, FOLDER_MODE, [HOST_PORT_FILE, TTY_FILE], onSpareFailure, keptSpares);
  }

  folderOf(containerId: string): string {
    // Ids come from the engine, but a path is built from them: refuse anything that is not one.
    if (!CONTAINER_ID.test(containerId))
      throw new Error(`not a container id: ${JSON.stringify(containerId)}`);
    return `${this.folderPrefix}${containerId}`;
  }

  /** Makes the root if needed, and the first folders ahead of need. */
  async ensureRoot(): Promise<void> {
    await fs.mkdir(this.root, { recursive: true, mode: FOLDER_MODE });
    await fs.chmod(this.root, FOLDER_MODE);
    this.spares.fill();
  }

  /** Folders made ahead and ready for the next starts. */
  get foldersReadyAhead(): number {
    return this.spares.readyCount;
  }

  /**
   * Closes the files held open in folders made ahead (the next process takes
   * them over); resolves once none is still being made.
   */
  close(): Promise<void> {
    return this.spares.stop();
  }

  /** Makes the folder, then the host port and the TTY, durably; `tty` appears last. */
  async writeStartFiles(containerId: string, hostPort: number, tty: number): Promise<void> {
    const folder = this.folderOf(containerId);
    this.dpiShown.delete(containerId);
    const temps = await this.spares.takeAs(folder);
    try {
      await writeFilesAtomic(
        [
          { file: inFolder(folder, HOST_PORT_FILE), content: String(hostPort) },
          { file: inFolder(folder, TTY_FILE), content: String(tty) },
        ],
        temps === undefined ? { folderMode: FOLDER_MODE } : { temps },
      );
    } finally {
      this.spares.fill();
    }
  }

  /**
   * `DPI` first, `.ready` last: the container starts reading when `.ready`
   * appears. What would not change a byte is not written again: a `.ready`
   * already in place stays (the container waits for it once; a new `DPI` is
   * still complete before the request is answered), and a DPI the folder
   * already shows is not put in place again, since the request's answer only
   * says what the file already says. The first DPI of a container fills
   * the `DPI` and `.ready` of a folder taken back earlier, held open for it
   * (./spareFolders.ts, `takeHeldTemps`), when there are: no file is made.
   *
   * A later DPI is kept as a value file (`.DPI-<dpi>`), written once,
   * fsynced and renamed like any other, then shown by renaming a new link of
   * it over `DPI` (`linkInPlace`). A DPI shown before is shown again without
   * writing a byte, and the file `DPI` named before keeps its value file's
   * name: no file is made or freed while a container's DPI goes back and
   * forth between a few values. Making and freeing a file each time was most
   * of a DPI request's CPU on this machine's file system (ext4 without a
   * journal skips, at every file it makes, each inode freed in the last
   * minute, or six while its inode-table block is unwritten:
   * `recently_deleted` in a kernel profile, 0.25-0.5 ms a request with 100
   * containers, against 0.03 ms for a link and a rename).
   */
  async writeDpi(containerId: string, dpi: number): Promise<void> {
    const folder = this.folderOf(containerId);
    const shown = this.dpiShown.get(containerId);
    if (shown?.dpi === dpi) return;
    this.dpiShown.delete(containerId);
    const dpiFile = inFolder(folder, DPI_FILE);
    if (shown === undefined) {
      const files = [
        { file: dpiFile, content: String(dpi) },
        { file: inFolder(folder, READY_FILE), content: READY_FILE },
      ];
      const temps = this.spares.takeHeldTemps(files.length);
      await writeFilesAtomic(files, temps && { temps });
      this.dpiShown.set(containerId, { dpi, valueFiles: undefined });
      return;
    }
    const valueFile = inFolder(folder, valueFileName(dpi));
    if (shown.valueFiles === undefined) await this.removeValueFiles(folder);
    let valueFiles = shown.valueFiles ?? [];
    if (!valueFiles.includes(dpi)) {
      // Room first: the folder never holds more than MAX_VALUE_FILES, even if the write fails.
      if (valueFiles.length >= MAX_VALUE_FILES) {
        await fs.unlink(inFolder(folder, valueFileName(valueFiles[0]!))).catch(unlessGone);
        valueFiles = valueFiles.slice(1);
      }
      await writeFilesAtomic([{ file: valueFile, content: String(dpi) }]);
    }
    await linkInPlace(valueFile, dpiFile);
    this.dpiShown.set(containerId, { dpi, valueFiles: [...valueFiles.filter((v) => v !== dpi), dpi] });
  }

  /** Value files no record names: from an earlier process, or from before a failed write. */
  private async removeValueFiles(folder: string): Promise<void> {
    const names = await fs.readdir(folder);
    await Promise.all(
      names.filter((n) => VALUE_FILE.test(n)).map((n) => fs.unlink(inFolder(folder, n)).catch(unlessGone)),
    );
  }

  /**
   * The folder and everything in it; one already gone is not an error. What
   * this service writes there is plain files, unlinked side by side, then the
   * folder: four thread-pool calls for a folder of two files, where `fs.rm`
   * makes nine (it stats every entry and tries the folder before emptying
   * it). Anything else (a folder inside, an entry that appeared meanwhile, a
   * folder that is not one) goes through `fs.rm`'s walk.
   *
   * When no write is in flight the same calls are made on the event loop, as
   * the writes are (./atomicFile.ts): a hand-off to the thread pool and the
   * event loop's wake-up cost more than an unlink on a quiet file system.
   * Then too, a folder of plain files is kept as a spare while fewer than
   * MAX_KEPT_SPARES are kept (./spareFolders.ts, `takeBack`): it leaves its place
   * in one rename, its start files serve the next start, and its `DPI`
   * and `.ready` the next container's first DPI.
   */
  async remove(containerId: string): Promise<void> {
    this.dpiShown.delete(containerId);
    const folder = this.folderOf(containerId);
    const calls = currentStrategy() === 'inline' ? callsInline : callsOnThreadPool;
    const walk = () => fs.rm(folder, { recursive: true, force: true });
    let entries: Dirent[];
    try {
      entries = await calls.readdir(folder);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      return walk();
    }
    if (entries.some((e) => e.isDirectory())) return walk();
    // Kept as the next start's folder when a spare is wanted, rather than freed here and made anew.
    const names = entries.map((e) => e.name);
    const takenBack =
      calls === callsInline &&
      entries.every((e) => e.isFile()) &&
      this.spares.takeBack(folder, names, HELD_AFTER_REMOVAL);
    if (takenBack) return;
    await Promise.all(
      entries.map(async (e) => {
        try {
          await calls.unlink(inFolder(folder, e.name));
        } catch (error) {
          unlessGone(error as NodeJS.ErrnoException);
        }
      }),
    );
    try {
      await calls.rmdir(folder);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOTEMPTY') return walk();
      unlessGone(error as NodeJS.ErrnoException);
    }
  }

  /** Ids of every folder present (stale or live), for reconciliation. */
  async list(): Promise<string[]> {
    const entries = await fs
      .readdir(this.root, { withFileTypes: true })
      .catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return [];
        throw error;
      });
    return entries.filter((e) => e.isDirectory() && CONTAINER_ID.test(e.name)).map((e) => e.name);
  }

  /** What every folder says, for adoption after a restart; unreadable values are left undefined. */
  async readAll(): Promise<FolderRecord[]> {
    return Promise.all((await this.list()).map((containerId) => this.read(containerId)));
  }

  async read(containerId: string): Promise<FolderRecord> {
    const folder = this.folderOf(containerId);
    const number = async (name: string) => {
      const text = await fs.readFile(inFolder(folder, name), 'utf8').catch(() => undefined);
      return text !== undefined && /^\d+$/.test(text) ? Number(text) : undefined;
    };
    const ttyStat = await fs.stat(inFolder(folder, TTY_FILE)).catch(() => undefined);
    const ready = await fs.access(inFolder(folder, READY_FILE)).then(
      () => true,
      () => false,
    );
    return {
      containerId,
      hostPort: await number(HOST_PORT_FILE),
      tty: await number(TTY_FILE),
      dpi: await number(DPI_FILE),
      ready,
      ttyWrittenAtMs: ttyStat?.mtimeMs,
    };
  }
}
