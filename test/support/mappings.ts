import fs from 'node:fs';
import path from 'node:path';
import { waitFor } from './wait.js';

export interface FolderView {
  hostPort?: number;
  tty?: number;
  dpi?: number;
  ready: boolean;
  files: string[];
}

/** What a container would see in its folder right now, or undefined when there is no folder. */
export function readFolder(mappings: string, containerId: string): FolderView | undefined {
  const folder = path.join(mappings, containerId);
  let files: string[];
  try {
    files = fs.readdirSync(folder).sort();
  } catch {
    return undefined;
  }
  const read = (name: string) => {
    try {
      return Number(fs.readFileSync(path.join(folder, name), 'utf8'));
    } catch {
      return undefined;
    }
  };
  return {
    hostPort: read('hostPort_for_my_32262_tcp'),
    tty: read('tty'),
    dpi: read('DPI'),
    ready: files.includes('.ready'),
    files,
  };
}

/** The container folders; hidden entries are the service's own (folders made ahead of starts). */
export function listFolders(mappings: string): string[] {
  try {
    return fs
      .readdirSync(mappings)
      .filter((name) => !name.startsWith('.'))
      .sort();
  } catch {
    return [];
  }
}

/** Waits until no container folder is left: the last step of the clean-up after a container dies. */
export function allFoldersGone(mappings: string, timeoutMs = 30_000, intervalMs?: number): Promise<boolean> {
  return waitFor('every folder gone', () => listFolders(mappings).length === 0, timeoutMs, intervalMs);
}
