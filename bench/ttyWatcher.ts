/**
 * A separate process that watches the mapping root with inotify and prints
 * `<containerId> <epoch ms>` when a `tty` file appears in a container's
 * folder, so the latency figure does not rest on the service's own clock.
 * (Node 20's recursive fs.watch throws when a watched folder vanishes, as
 * ours do on every die, so each folder gets its own watcher.)
 */
import fs from 'node:fs';
import path from 'node:path';

const root = process.argv[2]!;
const seen = new Set<string>();
const watchers = new Map<string, fs.FSWatcher>();
const now = () => performance.timeOrigin + performance.now();

function record(containerId: string) {
  if (seen.has(containerId)) return;
  seen.add(containerId);
  process.stdout.write(`${containerId} ${now()}\n`);
}

function watchFolder(containerId: string) {
  const folder = path.join(root, containerId);
  if (watchers.has(containerId)) return;
  let watcher: fs.FSWatcher;
  try {
    watcher = fs.watch(folder, (_event, file) => {
      if (file?.toString() === 'tty' && fs.existsSync(path.join(folder, 'tty'))) record(containerId);
    });
  } catch {
    return;
  }
  watcher.on('error', () => {
    watcher.close();
    watchers.delete(containerId);
  });
  watchers.set(containerId, watcher);
  // The file may have landed before the watch was in place: the time seen is then a little late.
  if (fs.existsSync(path.join(folder, 'tty'))) record(containerId);
}

fs.watch(root, (_event, file) => {
  if (!file) return;
  const name = file.toString();
  if (name.startsWith('.')) return;
  if (fs.existsSync(path.join(root, name))) watchFolder(name);
  else {
    watchers.get(name)?.close();
    watchers.delete(name);
  }
});
process.stdout.write('watching\n');
