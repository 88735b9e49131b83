/**
 * The least a durable write of one small file can be: temp file, fsync,
 * close, rename, all blocking. Both floors (api and containers benchmarks)
 * use it, so they measure the same thing; kept free of other imports for the
 * floor reactor's process.
 */
import fs from 'node:fs';

export function writeDurablySync(file: string, content: string): void {
  const temp = `${file}.tmp`;
  const fd = fs.openSync(temp, 'w', 0o644);
  fs.writeSync(fd, content);
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  fs.renameSync(temp, file);
}
