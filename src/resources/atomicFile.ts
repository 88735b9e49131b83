import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

/**
 * Writes a file so that a reader sees either nothing or all of it, with its
 * content on disk before it becomes visible: temp file, fsync, rename.
 *
 * The folder is not fsynced after the rename: that would only protect the
 * name against a power cut, and a power cut also ends every container, so
 * the folders it could save are stale ones that the next start cleans up.
 * Leaving it out halves the fsyncs on the path from `start` to `tty`.
 */
export async function writeFileAtomic(file: string, content: string, mode = 0o644): Promise<void> {
  const dir = path.dirname(file);
  const temp = path.join(dir, `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await fs.open(temp, 'wx', mode);
  try {
    await handle.writeFile(content);
    // open() applies the umask; the container reads as another user, so set the mode exactly.
    await handle.chmod(mode);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await fs.rm(temp, { force: true });
    throw error;
  }
  await handle.close();
  try {
    await fs.rename(temp, file);
  } catch (error) {
    await fs.rm(temp, { force: true });
    throw error;
  }
}
