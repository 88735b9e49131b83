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
 * Removes `root`, unless something is still mounted under it (a
 * cloud-storage folder whose rclone did not end): that one is left, with its
 * path printed, as removing files through a live mount would reach what it
 * serves. A service that is still ending may write meanwhile: a few retries.
 */
export function removeUnlessMounted(root: string): void {
  const mounted = fs
    .readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .some((line) => (line.split(' ')[1] ?? '').startsWith(`${root}/`));
  if (mounted) {
    process.stdout.write(`left ${root}: something is still mounted under it\n`);
    return;
  }
  fs.rmSync(root, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
}

function removeRoots(roots: ReadonlySet<string>): void {
  for (const root of roots) removeUnlessMounted(root);
}

/**
 * The folder that temporary roots go in: the test run's own when the test
 * runner set one (./tempParent.ts, which removes it at the end of the run,
 * after workers that end without an exit event), else the system's.
 */
export const TEMP_PARENT_VARIABLE = 'HS_TEST_TEMP_PARENT';

/** A new folder `<parent>/<prefix>XXXXXX`, removed when this process ends. */
export function temporaryRoot(prefix: string): string {
  const parent = process.env[TEMP_PARENT_VARIABLE] ?? os.tmpdir();
  const root = fs.mkdtempSync(path.join(parent, prefix));
  rootsToRemove().add(root);
  return root;
}
