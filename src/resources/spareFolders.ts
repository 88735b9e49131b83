/**
 * Container folders made ahead of need. Making a folder and a file is the
 * dearest part of a start on this file system: ext4 searches for a free
 * inode, skipping the recently freed ones, and a directory's inode is placed
 * with a scan of the block groups. On the event loop that cost 0.4-1 ms a
 * start when quiet and up to 2 ms under a burst of starts, with every other
 * container waiting behind it (bench/MEASUREMENTS.md, "Folders made ahead").
 *
 * So a few folders wait under hidden names in the mapping root, each with a
 * temp file made and open for each start file. A start renames one to the
 * container's id and fills its temps, which are then fsynced and renamed as
 * any others: the files' guarantees are those of `writeFilesAtomic`. What
 * starts take comes back when a container's folder is removed (`takeBack`),
 * or is made again afterwards on the thread pool, two at a time
 * (SPARE_REFILL_BATCH). When none is ready (a burst took them, or
 * making one failed) the start makes its folder itself, as before. The
 * folders of a burst are kept as they are removed (up to MAX_KEPT_SPARES),
 * so that the next burst makes none.
 *
 * The names start with a dot and are not container ids, so nothing that
 * reads the folders (adoption, clean-up, the containers) sees them. What an
 * earlier process of the service left (after a burst, up to MAX_KEPT_SPARES
 * folders and MAX_HELD_TEMPS held files, each taken back or made whole) is
 * taken over before the first spare is made (`adoptLeftovers`): a restart
 * or an upgrade keeps them for the next burst, where removing them took the
 * thread pool 21-25 ms here and the next burst made every folder again.
 * Only what is complete is taken, under this process's names; anything else
 * there (a spare half made or half taken back when a process was killed) is
 * removed.
 */
import fs from 'node:fs/promises';
import { closeSync, mkdirSync, renameSync, rmSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { errorMessage } from '../../machines/shared.js';
import {
  adoptAsTemp,
  currentStrategy,
  DEFAULT_FILE_MODE,
  fileOfTemp,
  holdAsTemp,
  openTemps,
  reuseAsTemps,
  type OpenTemp,
  type WriteStrategy,
} from './atomicFile.js';

/** Made ahead: enough for starts a few at a time; a first burst falls back to making folders as it goes. */
export const SPARE_FOLDER_COUNT = 4;
/**
 * How many spares the folders of removed containers may make (`takeBack`),
 * beyond the SPARE_FOLDER_COUNT made ahead: a host that ran a burst of
 * containers keeps their folders for the next one, rather than freeing
 * their inodes and making as many again. On this machine's file system
 * (ext4 without a journal, beside an engine that frees many inodes of its
 * own), each inode made skips every one freed lately, and in
 * batches of 100 that search was a sixth of the service's CPU
 * (bench/MEASUREMENTS.md, "A burst's folders kept"). Each holds a folder,
 * its start files and an open descriptor for each (with the held temps, at
 * most 512 descriptors: the unit allows 65,536, and Node raises its soft
 * limit to the hard one); more than a host's largest burst is never kept,
 * since only a removed folder becomes one.
 */
export const MAX_KEPT_SPARES = 128;
/**
 * Taken spares are made again this many at a time, side by side, once that
 * many are gone: their calls go to the thread pool together, and their
 * answers wake the event loop together, where one at a time each woke it on
 * its own (a wake-up costs about 0.1 ms of CPU here: bench/MEASUREMENTS.md,
 * "wake-ups counted"). At least SPARE_FOLDER_COUNT − SPARE_REFILL_BATCH stay
 * ready meanwhile.
 */
export const SPARE_REFILL_BATCH = 2;
const SPARE_PREFIX = '.spare-';
/** The folder of the held temps (`takeHeldTemps`); the next process takes them over with the spares. */
const HELD_PREFIX = '.held-';
/**
 * How many of the folders an earlier process left are taken over at once:
 * as many as the thread pool has threads.
 */
const ADOPTED_AT_ONCE = 4;
/**
 * How many other files of taken-back folders are held as temps for later
 * writes (`takeBack`'s `holdable`): a host's first DPI of a container takes
 * two, so a burst's `DPI` and `.ready` are held for the next burst as its
 * folders are. Each holds a few bytes and an open descriptor. In batches of
 * 100 with their DPI, 256 held instead of 8 took about 0.4 ms of system CPU
 * a container less (bench/MEASUREMENTS.md, "A burst's folders kept").
 */
export const MAX_HELD_TEMPS = 2 * MAX_KEPT_SPARES;
/** Larger files are not held: a write of a few bytes into one would free its blocks. */
const MAX_HELD_BYTES = 4096;

/**
 * Counted for the process, not for each SpareFolders: two on one root (the
 * tests make them) never make the same name while one removes the other's.
 */
let sparesMade = 0;

/** A spare's or the held folder's name: its prefix, the process that gave it, and its number. */
function spareName(prefix: string, pid: number, number: number): string {
  return `${prefix}${pid}-${number}`;
}

/**
 * What `spareName` put in `name` (this process's or an earlier one's), read
 * back: undefined for a name that is neither a spare's nor a held folder's,
 * and no pid for one of those prefixes not numbered as `spareName` numbers.
 */
function spareNameParts(name: string): { prefix: string; pid?: number; number?: number } | undefined {
  const prefix = [SPARE_PREFIX, HELD_PREFIX].find((p) => name.startsWith(p));
  if (prefix === undefined) return undefined;
  const numbers = /^(\d+)-(\d+)$/.exec(name.slice(prefix.length));
  return numbers === null ? { prefix } : { prefix, pid: Number(numbers[1]), number: Number(numbers[2]) };
}

interface SpareFolder {
  folder: string;
  temps: readonly OpenTemp[];
}

export class SpareFolders {
  private readonly ready: SpareFolder[] = [];
  private making = 0;
  /** The spares being made, for `stop` to wait on. */
  private readonly inFlight = new Set<Promise<void>>();
  private stopped = false;
  /** The taking over of what earlier processes left, started by the first fill; no spare is made until it is done. */
  private leftovers: Promise<void> | undefined;
  /** Held temps being taken over from an earlier process's held folder. */
  private holding = 0;
  /** The probe of the modes, shared by the spares made while it runs; forgotten if it fails. */
  private modesProbe: Promise<boolean> | undefined;
  private probedModesAsAsked: boolean | undefined;
  /** Other files of taken-back folders, open, for later writes (`takeHeldTemps`). */
  private readonly held: OpenTemp[] = [];
  /** Where they wait: a hidden folder of the root, made with the first one. */
  private heldFolder: string | undefined;
  /**
   * Names this process gave before the leftovers of earlier processes were
   * handled: a folder taken back meanwhile is not a leftover. Undefined once
   * they are.
   */
  private namesBeforeLeftoversHandled: Set<string> | undefined = new Set();

  private get leftoversHandled(): boolean {
    return this.namesBeforeLeftoversHandled === undefined;
  }

  /**
   * @param fileNames the files a start writes, in order: one temp each
   * @param onFailure told when making a spare failed (starts still make their own)
   * @param keep at most this many kept, SPARE_FOLDER_COUNT or more (tests set fewer than MAX_KEPT_SPARES)
   */
  constructor(
    private readonly root: string,
    private readonly folderMode: number,
    private readonly fileNames: readonly string[],
    private readonly onFailure: (error: unknown) => void,
    private readonly keep = MAX_KEPT_SPARES,
  ) {
    this.rootPrefix = path.join(root, '/');
  }

  /**
   * `root` with one `/` after it: a spare's path is this and its name, what
   * `path.join` gives for a name with no `/`, without its normalising walk
   * (about 1 kB of objects a call in V8's lower tiers, once a lifecycle).
   */
  private readonly rootPrefix: string;

  /**
   * Whether a new folder and file in the root get exactly the modes asked for
   * (undefined until the first spare is made): then a spare's folder and
   * temps are made with their modes and not set again, two round trips to
   * the thread pool fewer a spare, each a wake-up of the event loop and of a
   * pool thread.
   */
  get modesAsAsked(): boolean | undefined {
    return this.probedModesAsAsked;
  }

  /** How many are ready to be taken now. */
  get readyCount(): number {
    return this.ready.length;
  }

  /**
   * Starts making spares up to the count, when at least SPARE_REFILL_BATCH
   * are missing, once what earlier processes left is taken over; never
   * rejects.
   */
  fill(): void {
    this.leftovers ??= this.adoptLeftovers()
      .catch(this.onFailure)
      .finally(() => this.fill());
    if (!this.leftoversHandled) return;
    if (this.ready.length + this.making > SPARE_FOLDER_COUNT - SPARE_REFILL_BATCH) return;
    while (!this.stopped && this.ready.length + this.making < SPARE_FOLDER_COUNT) {
      this.making += 1;
      const made: Promise<void> = this.makeOne()
        .then(
          (spare) => {
            if (this.stopped) closeTemps(spare.temps);
            else this.ready.push(spare);
          },
          (error: unknown) => this.onFailure(error),
        )
        .finally(() => {
          this.making -= 1;
          this.inFlight.delete(made);
        });
      this.inFlight.add(made);
    }
  }

  /**
   * A spare renamed to `folder`, with its open temps, or undefined when none
   * is ready or `folder` already exists. The caller calls `fill` once its
   * write is done, so that making the next spare does not compete with it.
   */
  async takeAs(
    folder: string,
    strategy: WriteStrategy = currentStrategy(),
  ): Promise<readonly OpenTemp[] | undefined> {
    const spare = this.ready.shift();
    if (spare === undefined) return undefined;
    try {
      // Fails when `folder` exists with anything in it (an adopted container's); an empty one
      // of ours it replaces, which is no loss: the containers look files up by path. Inline
      // as the writes are: a rename that makes nothing, while no other write may hold it up.
      if (strategy === 'inline') renameSync(spare.folder, folder);
      else await fs.rename(spare.folder, folder);
    } catch (error) {
      // The container's folder is in the way: the spare waits for the next start. Anything else
      // (the spare itself gone) drops it, and the next fill makes another.
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'ENOTDIR') this.ready.unshift(spare);
      else closeTemps(spare.temps);
      return undefined;
    }
    // The temps keep their names in the folder's new place (`folder` as MappingFolders makes it).
    return spare.temps.map((t) => ({
      ...t,
      temp: `${folder}/${t.temp.slice(t.temp.lastIndexOf('/') + 1)}`,
    }));
  }

  /**
   * Takes the folder of a container that is gone back as a spare, while
   * fewer than MAX_KEPT_SPARES are ready or being made: renamed out of its
   * place to a spare's name first, so the container's name goes at once,
   * then its start files (`entries`, the folder's plain files, must hold
   * them) made its temps (`reuseAsTemps`), the entries named in `holdable`
   * held as temps for later writes (`takeHeldTemps`, up to MAX_HELD_TEMPS),
   * and every other entry unlinked. No file or folder is made (the held
   * files' folder once, with the first), and only those other entries are
   * freed,
   * where a removal and a spare made anew free three inodes and make three:
   * on this machine's file system, beside an engine that frees many, making
   * one cost up to 0.4 ms of CPU, and a lifecycle one at a time spent
   * 0.17-0.66 ms less with this (bench/MEASUREMENTS.md, "A quiet day").
   * A host's container also has a `DPI` and a `.ready` when it dies:
   * unlinked, their blocks were freed, which on this machine's disk held the
   * event loop up to 10 ms, and the next container's first DPI made both
   * anew (bench/MEASUREMENTS.md, "The DPI and .ready files held").
   * Blocking calls, for the event loop while no write is in flight. False,
   * with nothing changed, when enough spares are kept, not all the start files
   * are there, or the folder could not be moved; true once it has left its
   * place, even if a later step failed (that is reported through
   * `onFailure`, and the rest removed).
   */
  takeBack(folder: string, entries: readonly string[], holdable: readonly string[] = []): boolean {
    if (this.stopped || this.ready.length + this.making >= this.keep) return false;
    if (!this.fileNames.every((name) => entries.includes(name))) return false;
    const spareFolder = this.newSpareName();
    try {
      renameSync(folder, spareFolder);
    } catch {
      // Nothing changed (the folder gone meanwhile, or not movable): the caller removes it as before.
      return false;
    }
    let temps: OpenTemp[] = [];
    try {
      temps = reuseAsTemps(spareFolder, this.fileNames);
      for (const name of entries) {
        if (!this.fileNames.includes(name) && !holdable.includes(name)) unlinkSync(`${spareFolder}/${name}`);
      }
      // Any held temp serves any later file (the write fills it and renames it to that file's name);
      // in `holdable`'s order, a write of the same files gets each its own back when all were held.
      for (const name of holdable) {
        if (!entries.includes(name)) continue;
        if (this.held.length < MAX_HELD_TEMPS) this.hold(`${spareFolder}/${name}`);
        else unlinkSync(`${spareFolder}/${name}`);
      }
      this.ready.push({ folder: spareFolder, temps });
    } catch (error) {
      // The folder has left its place either way; what is left of it is not a spare.
      closeTemps(temps);
      try {
        rmSync(spareFolder, { recursive: true, force: true });
      } catch {
        // Hidden, and not whole: the next process's first fill removes it.
      }
      this.onFailure(error);
    }
    return true;
  }

  /**
   * `count` temps held from taken-back folders (`takeBack`), open, each
   * holding a few bytes of its earlier use, for one `writeFilesAtomic`; or
   * undefined when fewer are held. They are in a hidden folder of the root,
   * and the write renames them into their folder.
   */
  takeHeldTemps(count: number): OpenTemp[] | undefined {
    if (this.held.length < count) return undefined;
    return this.held.splice(this.held.length - count, count);
  }

  /** How many temps are held (for tests). */
  get heldCount(): number {
    return this.held.length;
  }

  /**
   * Closes the spares' files; the folders and held files stay for the next
   * process to take over (`adoptLeftovers`). Resolves once those being made
   * are done and closed too, after which nothing more is made in the root
   * (tests then remove it).
   */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const spare of this.ready.splice(0)) closeTemps(spare.temps);
    closeTemps(this.held.splice(0));
    await Promise.allSettled([this.leftovers, ...this.inFlight]);
  }

  /** A name no spare of this process has had: new to the root. */
  private newSpareName(prefix = SPARE_PREFIX): string {
    sparesMade += 1;
    const name = spareName(prefix, process.pid, sparesMade);
    this.namesBeforeLeftoversHandled?.add(name);
    return `${this.rootPrefix}${name}`;
  }

  /** `file` held as a temp, in the held folder (made here the first time). */
  private hold(file: string): void {
    const temp = holdAsTemp(file, this.heldFolderMade(), MAX_HELD_BYTES);
    if (temp !== undefined) this.held.push(temp);
  }

  /** The folder of the held temps, made the first time it is asked for. */
  private heldFolderMade(): string {
    if (this.heldFolder === undefined) {
      const folder = this.newSpareName(HELD_PREFIX);
      mkdirSync(folder, { mode: 0o700 });
      this.heldFolder = folder;
    }
    return this.heldFolder;
  }

  private async makeOne(): Promise<SpareFolder> {
    const folder = this.newSpareName();
    // A spare's name is new to the root: mkdir makes the folder, or fails.
    await fs.mkdir(folder, { mode: this.folderMode });
    try {
      // The first fill makes several side by side: one probe answers them all.
      this.modesProbe ??= this.madeWithModesAsAsked(folder).then(
        (asAsked) => (this.probedModesAsAsked = asAsked),
        (error: unknown) => {
          this.modesProbe = undefined;
          throw error;
        },
      );
      const modeAsAsked = await this.modesProbe;
      if (!modeAsAsked) await fs.chmod(folder, this.folderMode);
      const temps = await openTemps(folder, this.fileNames, { modeAsAsked });
      return { folder, temps };
    } catch (error) {
      await fs.rm(folder, { recursive: true, force: true }).catch(() => {});
      throw error;
    }
  }

  /**
   * Asked once, of the first spare's folder and a file made in it: whether
   * they came out with exactly the modes asked for. The umask may take bits
   * away, and a default ACL on the root decides in its place; the service
   * never changes its umask, so the answer holds for the process.
   */
  private async madeWithModesAsAsked(folder: string): Promise<boolean> {
    const probe = `${folder}/.mode-probe`;
    const handle = await fs.open(probe, 'wx', DEFAULT_FILE_MODE);
    try {
      const [folderStat, fileStat] = await Promise.all([fs.stat(folder), handle.stat()]);
      return (folderStat.mode & 0o7777) === this.folderMode && (fileStat.mode & 0o7777) === DEFAULT_FILE_MODE;
    } finally {
      await handle.close();
      await fs.unlink(probe);
    }
  }

  /**
   * Takes over the spares and held temps earlier processes left in the root,
   * up to the counts kept, each under a name of this process (a restarted
   * service may have the pid an earlier one had); removes the rest. Runs on
   * the thread pool, while starts go on without spares. A stop meanwhile
   * leaves what is not yet handled where it is, for the next process.
   */
  private async adoptLeftovers(): Promise<void> {
    try {
      const ours = this.namesBeforeLeftoversHandled;
      const left = (await fs.readdir(this.root)).flatMap((name) => {
        const parts = spareNameParts(name);
        return parts === undefined || ours?.has(name) ? [] : [{ name, ...parts }];
      });
      // A name this process gives from now on is none of theirs, whatever the pid.
      for (const { pid, number = 0 } of left) {
        if (pid === process.pid) sparesMade = Math.max(sparesMade, number);
      }
      // A few at a time, so that other calls on the thread pool (a restart's own writes) wait behind
      // no more than these; each one's failure is reported and the others go on.
      const queue = [...left];
      const next = async (): Promise<void> => {
        const leftover = queue.shift();
        if (leftover === undefined || this.stopped) return;
        const { name, prefix } = leftover;
        const folder = path.join(this.root, name);
        const adopted = prefix === HELD_PREFIX ? this.adoptHeld(folder) : this.adoptSpare(folder);
        await adopted.catch((error: unknown) =>
          this.onFailure(
            new Error(`taking over ${name}, left by an earlier process: ${errorMessage(error)}`, {
              cause: error,
            }),
          ),
        );
        return next();
      };
      await Promise.all(Array.from({ length: ADOPTED_AT_ONCE }, next));
    } finally {
      this.namesBeforeLeftoversHandled = undefined;
    }
  }

  /** An earlier process's spare, as one of this process's when it is complete and one more is kept; removed otherwise. */
  private async adoptSpare(earlier: string): Promise<void> {
    const temps: OpenTemp[] = [];
    let folder = earlier;
    if (this.ready.length + this.making >= this.keep) return remove(earlier);
    this.making += 1;
    try {
      // Side by side; a name that is not a folder fails the listing, and is removed as not whole.
      const [entries, stat] = await Promise.all([
        fs.readdir(earlier, { withFileTypes: true }).catch(() => []),
        fs.lstat(earlier),
      ]);
      const sources = this.fileNames.map((name) =>
        entries.find((e) => e.isFile() && fileOfTemp(e.name) === name),
      );
      // One temp for each start file and nothing else: a spare made or taken back whole.
      if (!stat.isDirectory() || entries.length !== sources.length || sources.includes(undefined))
        return await remove(earlier);
      folder = this.newSpareName();
      await fs.rename(earlier, folder);
      if ((stat.mode & 0o7777) !== this.folderMode) await fs.chmod(folder, this.folderMode);
      for (const [i, name] of this.fileNames.entries()) {
        const temp = await adoptAsTemp(`${folder}/${sources[i]!.name}`, folder, name, MAX_HELD_BYTES);
        if (temp === undefined) {
          closeTemps(temps);
          return await remove(folder);
        }
        temps.push(temp);
      }
      if (this.stopped) closeTemps(temps);
      else this.ready.push({ folder, temps });
    } catch (error) {
      closeTemps(temps);
      await remove(folder).catch(() => {});
      throw error;
    } finally {
      this.making -= 1;
    }
  }

  /**
   * The files of an earlier process's held folder, held here up to
   * MAX_HELD_TEMPS; the folder then removed, unless a stop came first (what
   * it still holds is the next process's to take).
   */
  private async adoptHeld(earlier: string): Promise<void> {
    try {
      // Not a folder: nothing to take, and removed below.
      const entries = await fs.readdir(earlier, { withFileTypes: true }).catch(() => []);
      for (const entry of entries) {
        const name = fileOfTemp(entry.name);
        if (name === undefined || !entry.isFile()) continue;
        if (this.stopped || this.held.length + this.holding >= MAX_HELD_TEMPS) break;
        this.holding += 1;
        try {
          const temp = await adoptAsTemp(
            `${earlier}/${entry.name}`,
            this.heldFolderMade(),
            name,
            MAX_HELD_BYTES,
          );
          if (temp === undefined) continue;
          if (this.stopped) closeTemps([temp]);
          else this.held.push(temp);
        } finally {
          this.holding -= 1;
        }
      }
    } finally {
      if (!this.stopped) await remove(earlier);
    }
  }
}

/** Removes a folder an earlier process left, with all it holds. */
function remove(folder: string): Promise<void> {
  return fs.rm(folder, { recursive: true, force: true });
}

function closeTemps(temps: readonly OpenTemp[]): void {
  for (const t of temps) {
    try {
      closeSync(t.fd);
    } catch {
      // Already closed: nothing to release.
    }
  }
}
