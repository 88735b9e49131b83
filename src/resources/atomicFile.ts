import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

/**
 * Atomic, durable writes of small files: each file goes to a temp file, is
 * fsynced, and only then renamed into place, so a reader sees either nothing
 * or all of it and what it sees is on disk.
 *
 * Two ways to run the same steps, chosen per write:
 * - `inline`, when no other write is in flight: opening, writing a few bytes
 *   into the page cache, closing and renaming happen on the calling thread;
 *   only the fsyncs, which wait for the disk, go to the thread pool. Each
 *   thread-pool call costs a hand-off and a wake-up of the event loop, more
 *   than these calls themselves when the file system is quiet.
 * - `threadPool`, when writes overlap: every step goes to the thread pool.
 *   While other fsyncs commit the journal, even an open or a rename can wait
 *   for the commit, and the event loop must not wait with them.
 * Figures (2-core host, DPI and `.ready` in the running service): one at a
 * time 1.8 ms inline against 2.6 ms on the thread pool; with 50 clients the
 * inline steps blocked the event loop for 0.5 ms per request.
 *
 * The folder is not fsynced after the rename: that would only protect the
 * name against a power cut, and a power cut also ends every container, so
 * the folders it could save are stale ones that the next start cleans up.
 */
const open = promisify(fs.open);
const write = promisify(fs.write);
const fchmod = promisify(fs.fchmod);
const fsync = promisify(fs.fsync);
const close = promisify(fs.close);
const rename = promisify(fs.rename);
const mkdir = promisify(fs.mkdir);
const chmod = promisify(fs.chmod);
const link = promisify(fs.link);
const utimes = promisify(fs.utimes);
const unlink = promisify(fs.unlink);
const ftruncate = promisify(fs.ftruncate);
const fstat = promisify(fs.fstat);

/** The mode of the files written here unless one is given: the containers read them as another user. */
export const DEFAULT_FILE_MODE = 0o644;

export interface FileToWrite {
  file: string;
  /** Small: it may be written in one call on the event loop. */
  content: string;
  /** Default 0644: the containers read these files as another user. */
  mode?: number;
}

export type WriteStrategy = 'inline' | 'threadPool';

export interface WriteOptions {
  /** Make the files' folder first (it may exist), with exactly this mode. */
  folderMode?: number;
  /**
   * Temp files made ahead (`openTemps`, `reuseAsTemps`, `holdAsTemp`), one
   * per file in the same order, in the files' folder or another of the same
   * file system: the write then makes no file, it only fills these.
   */
  temps?: readonly OpenTemp[];
  /** For tests; by default chosen per write as described above. */
  strategy?: WriteStrategy;
}

interface TempFile {
  temp: string;
  fd: number | undefined;
  /** Bytes it holds from an earlier use (`reuseAsTemps`, `holdAsTemp`): a write shorter than that cuts the rest. */
  holds?: number;
}

/**
 * A temp file made ahead of its write, open for writing, with its final
 * mode: empty, or holding `holds` bytes of an earlier use, which the write
 * overwrites from the start and cuts to its own length.
 */
export interface OpenTemp {
  temp: string;
  fd: number;
  holds?: number;
}

let writesInFlight = 0;

/** The way to run a file step now: on the calling thread unless another write is in flight (see above). */
export function currentStrategy(): WriteStrategy {
  return writesInFlight === 0 ? 'inline' : 'threadPool';
}

// Unique within this process, which is all a temp name needs: the files are
// opened with 'w', so a leftover of a crashed run with the same name is simply overwritten.
let tempCounter = 0;
function tempNameFor(file: string): string {
  tempCounter += 1;
  // Beside `file`, as path.join(dirname, ...) would put it for the normalised paths written here,
  // without the normalising walk (./mappingFolders.ts, `inFolder`).
  const slash = file.lastIndexOf('/');
  return `${file.slice(0, slash + 1)}.${file.slice(slash + 1)}.${process.pid}.${tempCounter}.tmp`;
}

const TEMP_NAME = /^\.(.+)\.\d+\.\d+\.tmp$/;

/** The name of the file a temp named `tempName` (by this process or an earlier one) is for, or undefined for any other name. */
export function fileOfTemp(tempName: string): string | undefined {
  return TEMP_NAME.exec(tempName)?.[1];
}

/**
 * How a file left from an earlier use is opened to be written again as it
 * is: for writing, and never through a link, which would write elsewhere.
 */
const OPEN_AS_IT_IS = fs.constants.O_RDWR | fs.constants.O_NOFOLLOW;

/** Whether a file opened as it is may serve as a temp: a plain one, with no other name (a write would change both), and small. */
function servesAsTemp(stat: fs.Stats, maxBytes = Infinity): boolean {
  return stat.isFile() && stat.nlink === 1 && stat.size <= maxBytes;
}

/** Throws the first failure, once every promise has settled. */
async function allSettledOrThrow(promises: readonly Promise<unknown>[]): Promise<void> {
  const settled = await Promise.allSettled(promises);
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
}

/**
 * fsyncs `fds` side by side on the thread pool; throws the first failure
 * once every fsync has ended, so that no descriptor is closed while an
 * fsync on it is in flight. One promise for all of them: a promisified call
 * each and `allSettled` made 2.9 kB a container's start, sampled
 * (bench/MEASUREMENTS.md, "The start files' loops and fsyncs").
 */
function fsyncAll(fds: readonly number[]): Promise<void> {
  return new Promise((resolve, reject) => {
    let pending = fds.length;
    let failure: NodeJS.ErrnoException | undefined;
    const ended = (error: NodeJS.ErrnoException | null) => {
      failure ??= error ?? undefined;
      pending -= 1;
      if (pending > 0) return;
      if (failure === undefined) resolve();
      else reject(failure);
    };
    if (pending === 0) resolve();
    for (let i = 0; i < fds.length; i++) {
      // A call refused at once (a bad descriptor's type) counts as ended, so the rule above holds.
      try {
        fs.fsync(fds[i]!, ended);
      } catch (error) {
        ended(error as NodeJS.ErrnoException);
      }
    }
  });
}

const tolerateExisting = (error: unknown) => {
  if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
};

async function writeInline(files: readonly FileToWrite[], temps: TempFile[], folderMode?: number) {
  if (folderMode !== undefined && files[0] !== undefined) {
    const folder = path.dirname(files[0].file);
    try {
      fs.mkdirSync(folder, { mode: folderMode });
    } catch (error) {
      tolerateExisting(error);
    }
    fs.chmodSync(folder, folderMode);
  }
  // Index loops: on this path, run cold, an iterator's results were most of the loops' bytes.
  for (let i = 0; i < files.length; i++) {
    const f = files[i]!;
    const temp = temps[i]!;
    if (temp.fd === undefined) {
      const mode = f.mode ?? DEFAULT_FILE_MODE;
      temp.fd = fs.openSync(temp.temp, 'w', mode);
      // Before any byte: open() applies the umask, and a leftover temp keeps its old mode.
      fs.fchmodSync(temp.fd, mode);
    }
    const bytes = Buffer.from(f.content);
    let written = 0;
    while (written < bytes.length) written += fs.writeSync(temp.fd, bytes, written, bytes.length - written);
    if ((temp.holds ?? 0) > bytes.length) fs.ftruncateSync(temp.fd, bytes.length);
  }
  await fsyncAll(temps.map((t) => t.fd!));
  for (let i = 0; i < temps.length; i++) {
    fs.closeSync(temps[i]!.fd!);
    temps[i]!.fd = undefined;
  }
  for (let i = 0; i < files.length; i++) fs.renameSync(temps[i]!.temp, files[i]!.file);
}

/**
 * Opens `temp` with exactly `mode`, on the thread pool: the umask applies at
 * open, and a leftover keeps its old mode, so the mode is set again. With
 * `modeAsAsked` (a new file gets exactly the mode asked for here), a file
 * made new needs no more; only a leftover of the same name does.
 */
async function openOnThreadPool(temp: TempFile, mode: number, modeAsAsked = false): Promise<number> {
  if (modeAsAsked) {
    try {
      temp.fd = await open(temp.temp, 'wx', mode);
      return temp.fd;
    } catch (error) {
      tolerateExisting(error);
    }
  }
  const fd = await open(temp.temp, 'w', mode);
  temp.fd = fd;
  await fchmod(fd, mode);
  return fd;
}

async function writeOnThreadPool(files: readonly FileToWrite[], temps: TempFile[], folderMode?: number) {
  if (folderMode !== undefined && files[0] !== undefined) {
    const folder = path.dirname(files[0].file);
    await mkdir(folder, { mode: folderMode }).catch(tolerateExisting);
    await chmod(folder, folderMode);
  }
  const writeOne = async (f: FileToWrite, temp: TempFile) => {
    temp.fd ??= await openOnThreadPool(temp, f.mode ?? DEFAULT_FILE_MODE);
    const bytes = Buffer.from(f.content);
    let written = 0;
    while (written < bytes.length) {
      written += (await write(temp.fd, bytes, written, bytes.length - written)).bytesWritten;
    }
    if ((temp.holds ?? 0) > bytes.length) await ftruncate(temp.fd, bytes.length);
    await fsync(temp.fd);
    const fd = temp.fd;
    temp.fd = undefined;
    await close(fd);
  };
  await allSettledOrThrow(files.map((f, i) => writeOne(f, temps[i]!)));
  for (const [i, f] of files.entries()) await rename(temps[i]!.temp, f.file);
}

/** After a failure: descriptors closed and temps removed, best effort; the failure is what gets reported. */
function discard(temps: readonly TempFile[]): void {
  for (const t of temps) {
    try {
      if (t.fd !== undefined) fs.closeSync(t.fd);
    } catch {
      // Already closed or never valid: nothing more to release.
    }
    try {
      fs.rmSync(t.temp, { force: true });
    } catch {
      // A temp that cannot be removed is overwritten by a later run, never read.
    }
  }
}

/**
 * Writes several files of one folder so that each appears atomically and in
 * the order given: all contents are written and fsynced side by side (the
 * file system commits concurrent fsyncs together), then renamed one after
 * the other. A reader that sees a later file can rely on every earlier one
 * being complete. On failure no temp file is left, and no file after the
 * failed one appears.
 */
export async function writeFilesAtomic(
  files: readonly FileToWrite[],
  { folderMode, temps: madeAhead, strategy = currentStrategy() }: WriteOptions = {},
): Promise<void> {
  if (madeAhead !== undefined && madeAhead.length !== files.length) {
    throw new Error(`${madeAhead.length} temp files made ahead for ${files.length} files`);
  }
  // Listed before any is made, so that a failure discards each one that exists.
  const temps: TempFile[] =
    madeAhead?.map((t) => ({ ...t })) ?? files.map((f) => ({ temp: tempNameFor(f.file), fd: undefined }));
  writesInFlight += 1;
  try {
    await (strategy === 'inline'
      ? writeInline(files, temps, folderMode)
      : writeOnThreadPool(files, temps, folderMode));
  } catch (error) {
    discard(temps);
    throw error;
  } finally {
    writesInFlight -= 1;
  }
}

/**
 * Makes, on the thread pool, one empty temp file in `folder` for each of
 * `names`, open and with `mode`: for a later `writeFilesAtomic` that then
 * makes no file. A temp's name is the one `writeFilesAtomic` would give it.
 * `modeAsAsked`: the caller knows that a new file gets exactly `mode` here
 * (the umask keeps its bits, and no default ACL decides otherwise), so each
 * is made new and its mode not set again: one round trip to the thread pool
 * fewer. On failure, those made are closed and removed.
 */
export async function openTemps(
  folder: string,
  names: readonly string[],
  { mode = DEFAULT_FILE_MODE, modeAsAsked = false }: { mode?: number; modeAsAsked?: boolean } = {},
): Promise<OpenTemp[]> {
  const temps: TempFile[] = names.map((name) => ({
    temp: tempNameFor(path.join(folder, name)),
    fd: undefined,
  }));
  try {
    await allSettledOrThrow(temps.map((t) => openOnThreadPool(t, mode, modeAsAsked)));
  } catch (error) {
    discard(temps);
    throw error;
  }
  return temps.map((t) => ({ temp: t.temp, fd: t.fd! }));
}

/**
 * `openTemps` without making a file: the files `names` of `folder`, written
 * by this service for a container that is gone, each renamed to the temp
 * name a write would give it and opened for writing as it is. What it holds
 * is not cut now but by the write (`OpenTemp.holds`): these files are a few
 * bytes, so a write of about as many frees no block (freeing one costs a
 * discard on this machine's disk: bench/MEASUREMENTS.md, "A quiet day").
 * Blocking calls, for the event loop while no write is in flight (see
 * above). On failure, those opened are closed; the caller removes the
 * folder.
 */
export function reuseAsTemps(folder: string, names: readonly string[]): OpenTemp[] {
  const temps: OpenTemp[] = [];
  try {
    for (const name of names) {
      const temp = tempNameFor(`${folder}/${name}`);
      const { fd, stat } = openAsItIs(`${folder}/${name}`, temp);
      temps.push({ temp, fd, holds: stat.size });
    }
  } catch (error) {
    for (const t of temps) fs.closeSync(t.fd);
    throw error;
  }
  return temps;
}

/**
 * Holds `file`, a file of a folder that is going, as a temp for a later
 * write: renamed to a temp name in `heldFolder` (on the same file system)
 * and opened as it is, like `reuseAsTemps`. Only a file that is small
 * (`maxBytes`) and has no other name is held: a write into a file with two
 * names would change both. Otherwise it is unlinked where it went, and
 * undefined returned. Blocking calls; throws when a call fails (the file
 * then is gone or in `heldFolder`, which is removed as a whole later).
 */
export function holdAsTemp(file: string, heldFolder: string, maxBytes: number): OpenTemp | undefined {
  const temp = tempNameFor(`${heldFolder}/${file.slice(file.lastIndexOf('/') + 1)}`);
  const { fd, stat } = openAsItIs(file, temp);
  if (servesAsTemp(stat, maxBytes)) return { temp, fd, holds: stat.size };
  fs.closeSync(fd);
  fs.unlinkSync(temp);
  return undefined;
}

/**
 * A temp an earlier process of this service left open for a later write (a
 * folder made ahead, a held file), taken over: `file` renamed to a temp name
 * of this process in `folder`, as for `name`, then opened as it is, on the
 * thread pool: `holdAsTemp`'s steps and rule (`servesAsTemp`), off the event
 * loop, since a start takes over many at once. Anything else (a link, a
 * folder, a file of two names or over `maxBytes`) is removed where it went
 * and undefined returned. Throws when a call fails: the file is then where
 * it was (the rename failed), removed (the open failed), or closed in
 * `folder`, for the caller to remove with the folder.
 */
export async function adoptAsTemp(
  file: string,
  folder: string,
  name: string,
  maxBytes: number,
): Promise<OpenTemp | undefined> {
  const temp = tempNameFor(`${folder}/${name}`);
  await rename(file, temp);
  let fd: number;
  try {
    fd = await open(temp, OPEN_AS_IT_IS);
  } catch (error) {
    // A link (ELOOP), a folder, a socket: not taken. Any other failure is the caller's to report.
    await fs.promises.rm(temp, { recursive: true, force: true }).catch(() => {});
    if (['ELOOP', 'EISDIR', 'ENXIO'].includes((error as NodeJS.ErrnoException).code ?? '')) return undefined;
    throw error;
  }
  try {
    const stat = await fstat(fd);
    if (!servesAsTemp(stat, maxBytes)) {
      await close(fd);
      await unlink(temp);
      return undefined;
    }
    if ((stat.mode & 0o7777) !== DEFAULT_FILE_MODE) await fchmod(fd, DEFAULT_FILE_MODE);
    return { temp, fd, holds: stat.size };
  } catch (error) {
    await close(fd).catch(() => {});
    throw error;
  }
}

/**
 * `file` renamed to `temp` and opened for writing as it is (OPEN_AS_IT_IS),
 * with the mode every file written here has: its descriptor and what it
 * was when opened. Closed again if a step after the open fails.
 */
function openAsItIs(file: string, temp: string): { fd: number; stat: fs.Stats } {
  fs.renameSync(file, temp);
  const fd = fs.openSync(temp, OPEN_AS_IT_IS);
  try {
    const stat = fs.fstatSync(fd);
    if ((stat.mode & 0o7777) !== DEFAULT_FILE_MODE) fs.fchmodSync(fd, DEFAULT_FILE_MODE);
    return { fd, stat };
  } catch (error) {
    fs.closeSync(fd);
    throw error;
  }
}

/**
 * Puts `file` in place as another name of `source`, a complete file written
 * earlier: a link under a temp name, renamed over `file`. A reader sees the
 * old file or the new one, never a mix, and no byte is written, so nothing
 * needs an fsync; only the name may be lost to a power cut, as with any
 * rename here. `source` keeps its name, so the file `file` named before is
 * freed only if nothing else names it. Its times are set to now first: the
 * new `file` says when it was put in place, as a written one would.
 */
export async function linkInPlace(
  source: string,
  file: string,
  { strategy = currentStrategy() }: Pick<WriteOptions, 'strategy'> = {},
): Promise<void> {
  const temp = tempNameFor(file);
  const now = new Date();
  writesInFlight += 1;
  try {
    if (strategy === 'inline') {
      try {
        fs.utimesSync(source, now, now);
        fs.linkSync(source, temp);
        fs.renameSync(temp, file);
      } finally {
        // A rename onto another name of the same file does nothing (POSIX) and leaves the
        // temp; after a failure it may be there too. Usually absent: one lstat, no exception
        // (`rmSync` with `force` made two: about 20 µs a request in a CPU profile).
        try {
          if (fs.lstatSync(temp, { throwIfNoEntry: false }) !== undefined) fs.unlinkSync(temp);
        } catch {
          // Not removable: a leftover temp is never read, and goes with its folder.
        }
      }
    } else {
      try {
        await utimes(source, now, now);
        await link(source, temp);
        await rename(temp, file);
      } finally {
        await unlink(temp).catch(() => {});
      }
    }
  } finally {
    writesInFlight -= 1;
  }
}
