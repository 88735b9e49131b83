/**
 * The machines that get a chart. Add a machine here and `make visualize`
 * writes its document; the drift check then holds it to the code.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AnyStateMachine } from 'xstate';
import { containerMachine } from '../../machines/container/machine.js';
import { hostMachine } from '../../machines/host/machine.js';
import { mountMachine } from '../../machines/mount/machine.js';
import { serviceMachine } from '../../machines/service/machine.js';

export interface ChartedMachine {
  /** Document name: `visualizations/<name>.md`. */
  name: string;
  /** Where the definition lives (the machine's folder), for the reader of the document. */
  source: string;
  /**
   * A digest of that folder's files, printed in the document: any edit of the
   * machine or its modules, a comment included, then needs `make visualize`,
   * so a chart never sits beside a definition newer than the one it was made from.
   */
  sourceDigest?: string;
  machine: AnyStateMachine;
}

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
function folderDigest(folder: string): string {
  const hash = createHash('sha256');
  for (const file of fs
    .readdirSync(folder)
    .filter((f) => f.endsWith('.ts'))
    .sort()) {
    hash
      .update(file)
      .update('\0')
      .update(fs.readFileSync(path.join(folder, file)));
  }
  return hash.digest('hex').slice(0, 16);
}

const charted = (name: string, source: string, machine: AnyStateMachine): ChartedMachine => ({
  name,
  source,
  sourceDigest: folderDigest(path.join(repoRoot, source)),
  machine,
});

export const chartedMachines: ChartedMachine[] = [
  charted('service', 'machines/service/', serviceMachine),
  charted('host', 'machines/host/', hostMachine),
  charted('container', 'machines/container/', containerMachine),
  charted('mount', 'machines/mount/', mountMachine),
];
