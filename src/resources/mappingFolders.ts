/**
 * The per-container folders under `containerResourceMappings/`, which the
 * containers read: `hostPort_for_my_32262_tcp`, `tty`, `DPI`, `.ready`.
 */
import type { Dirent } from 'node:fs';
import fs from 'node:fs/promises';
import type { FolderRecord } from '../../machines/events.js';
import path from 'node:path';
import { writeFilesAtomic } from './atomicFile.js';

export const HOST_PORT_FILE = 'hostPort_for_my_32262_tcp';
export const TTY_FILE = 'tty';
export const DPI_FILE = 'DPI';
export const READY_FILE = '.ready';

const CONTAINER_ID = /^[0-9a-f]{12,128}$/;

/** What is already gone needs no removing. */
const unlessGone = (error: NodeJS.ErrnoException) => {
  if (error.code !== 'ENOENT') throw error;
};

export class MappingFolders {
  /**
   * The DPI each folder holds with `.ready` beside it, as this process wrote
   * them, fsynced and renamed. This object is the folders' one writer and
   * every removal goes through it, so what it recorded is what is on disk.
   * An entry is dropped before every write and kept only once the write
   * succeeded: after a failure, or a restart, the next write is a full one.
   */
  private readonly dpiInPlace = new Map<string, number>();

  constructor(readonly root: string) {}

  folderOf(containerId: string): string {
    // Ids come from the engine, but a path is built from them: refuse anything that is not one.
    if (!CONTAINER_ID.test(containerId))
      throw new Error(`not a container id: ${JSON.stringify(containerId)}`);
    return path.join(this.root, containerId);
  }

  async ensureRoot(): Promise<void> {
    await fs.mkdir(this.root, { recursive: true, mode: 0o755 });
    await fs.chmod(this.root, 0o755);
  }

  /** Makes the folder, then the host port and the TTY, durably; `tty` appears last. */
  async writeStartFiles(containerId: string, hostPort: number, tty: number): Promise<void> {
    const folder = this.folderOf(containerId);
    this.dpiInPlace.delete(containerId);
    await writeFilesAtomic(
      [
        { file: path.join(folder, HOST_PORT_FILE), content: String(hostPort) },
        { file: path.join(folder, TTY_FILE), content: String(tty) },
      ],
      { folderMode: 0o755 },
    );
  }

  /**
   * `DPI` first, `.ready` last: the container starts reading when `.ready`
   * appears. What would not change a byte is not written again: a `.ready`
   * already in place stays (the container waits for it once; a new `DPI` is
   * still complete before the request is answered), and a DPI the folder
   * already holds durably is not rewritten, since the request's answer only
   * says what the file already says.
   */
  async writeDpi(containerId: string, dpi: number): Promise<void> {
    const folder = this.folderOf(containerId);
    const inPlace = this.dpiInPlace.get(containerId);
    if (inPlace === dpi) return;
    this.dpiInPlace.delete(containerId);
    const dpiFile = { file: path.join(folder, DPI_FILE), content: String(dpi) };
    await writeFilesAtomic(
      inPlace === undefined
        ? [dpiFile, { file: path.join(folder, READY_FILE), content: READY_FILE }]
        : [dpiFile],
    );
    this.dpiInPlace.set(containerId, dpi);
  }

  /**
   * The folder and everything in it; one already gone is not an error. What
   * this service writes there is plain files, unlinked side by side, then the
   * folder: four thread-pool calls for a folder of two files, where `fs.rm`
   * makes nine (it stats every entry and tries the folder before emptying
   * it). Anything else (a folder inside, an entry that appeared meanwhile, a
   * folder that is not one) goes through `fs.rm`'s walk.
   */
  async remove(containerId: string): Promise<void> {
    this.dpiInPlace.delete(containerId);
    const folder = this.folderOf(containerId);
    const walk = () => fs.rm(folder, { recursive: true, force: true });
    let entries: Dirent[];
    try {
      entries = await fs.readdir(folder, { withFileTypes: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      return walk();
    }
    if (entries.some((e) => e.isDirectory())) return walk();
    await Promise.all(entries.map((e) => fs.unlink(path.join(folder, e.name)).catch(unlessGone)));
    await fs.rmdir(folder).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOTEMPTY') return walk();
      return unlessGone(error);
    });
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
      const text = await fs.readFile(path.join(folder, name), 'utf8').catch(() => undefined);
      return text !== undefined && /^\d+$/.test(text) ? Number(text) : undefined;
    };
    const ttyStat = await fs.stat(path.join(folder, TTY_FILE)).catch(() => undefined);
    const ready = await fs.access(path.join(folder, READY_FILE)).then(
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
