/**
 * Service roots that tests and benchmarks make in the system's temp folder,
 * removed when the process that made them ends: a root may be reused across
 * service restarts, so not at each stop, and a test run made about a hundred.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

// On globalThis: a test runner may load this module afresh for each test
// file in one process, and one exit hook should cover them all.
const registry = Symbol.for('hs.temporaryRoots');
type Holder = { [registry]?: Set<string> };

function rootsToRemove(): Set<string> {
  const holder = globalThis as Holder;
  if (holder[registry] === undefined) {
    const roots = new Set<string>();
    holder[registry] = roots;
    process.once('exit', () => removeRoots(roots));
  }
  return holder[registry];
}

/**
 * A root with something still mounted under it (a cloud-storage folder whose
 * rclone did not end) is left, with its path printed: removing files through
 * a live mount would reach what it serves.
 */
function removeRoots(roots: ReadonlySet<string>): void {
  const mountPoints = fs
    .readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[1] ?? '');
  for (const root of roots) {
    if (mountPoints.some((point) => point.startsWith(`${root}/`))) {
      process.stdout.write(`left ${root}: something is still mounted under it\n`);
      continue;
    }
    fs.rmSync(root, { recursive: true, force: true });
  }
}

/** A new folder `<tmp>/<prefix>XXXXXX`, removed when this process ends. */
export function temporaryRoot(prefix: string): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  rootsToRemove().add(root);
  return root;
}
