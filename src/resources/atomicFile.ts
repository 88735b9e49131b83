import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

/**
 * Atomic, durable file writes: each file goes to a temp file, is fsynced, and
 * only then renamed into place, so a reader sees either nothing or all of it
 * and what it sees is on disk.
 *
 * The folder is not fsynced after the rename: that would only protect the
 * name against a power cut, and a power cut also ends every container, so
 * the folders it could save are stale ones that the next start cleans up.
 *
 * The callback API with plain descriptors, not `fs/promises` file handles:
 * these writes sit on the API's hot path, and a FileHandle costs noticeably
 * more main-thread time per call.
 */
const open = promisify(fs.open);
const write = promisify(fs.write);
const fchmod = promisify(fs.fchmod);
const fsync = promisify(fs.fsync);
const close = promisify(fs.close);
const rename = promisify(fs.rename);
const unlink = promisify(fs.unlink);

export interface FileToWrite {
  file: string;
  content: string;
  /** Default 0644: the containers read these files as another user. */
  mode?: number;
}

// Unique within this process, which is all a temp name needs: the files are
// opened with 'w', so a leftover of a crashed run with the same name is simply overwritten.
let tempCounter = 0;
function tempNameFor(file: string): string {
  tempCounter += 1;
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${tempCounter}.tmp`);
}

async function writeDurably(temp: string, content: string, mode: number): Promise<void> {
  const fd = await open(temp, 'w', mode);
  try {
    // Before any byte: open() applies the umask, and a leftover temp keeps its old mode.
    await fchmod(fd, mode);
    const bytes = Buffer.from(content);
    let written = 0;
    while (written < bytes.length) {
      written += (await write(fd, bytes, written, bytes.length - written)).bytesWritten;
    }
    await fsync(fd);
  } finally {
    await close(fd);
  }
}

/**
 * Writes several files of one folder so that each appears atomically and in
 * the order given: all contents are written and fsynced side by side (the
 * file system commits concurrent fsyncs together), then renamed one after the
 * other. A reader that sees a later file can rely on every earlier one being
 * complete. On failure no temp file is left, and no file after the failed
 * one appears.
 */
export async function writeFilesAtomic(files: readonly FileToWrite[]): Promise<void> {
  const temps = files.map((f) => tempNameFor(f.file));
  const removeTemps = () => Promise.all(temps.map((t) => unlink(t).catch(() => {})));
  const written = await Promise.allSettled(
    files.map((f, i) => writeDurably(temps[i]!, f.content, f.mode ?? 0o644)),
  );
  const failed = written.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed !== undefined) {
    await removeTemps();
    throw failed.reason;
  }
  try {
    for (const [i, f] of files.entries()) await rename(temps[i]!, f.file);
  } catch (error) {
    await removeTemps();
    throw error;
  }
}
