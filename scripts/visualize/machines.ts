/**
 * The machines that get a chart. Add a machine here and `make visualize`
 * writes its document; the drift check then holds it to the code.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AnyStateMachine } from 'xstate';
import { containerMachine } from '../../machines/container.js';
import { hostMachine } from '../../machines/host.js';
import { mountMachine } from '../../machines/mount.js';
import { serviceMachine } from '../../machines/service.js';

export interface ChartedMachine {
  /** Document name: `visualizations/<name>.md`. */
  name: string;
  /** Where the definition lives, for the reader of the document. */
  source: string;
  /**
   * A digest of that file, printed in the document: any edit of the machine,
   * a comment included, then needs `make visualize`, so a chart never sits
   * beside a definition newer than the one it was made from.
   */
  sourceDigest?: string;
  machine: AnyStateMachine;
}

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const charted = (name: string, source: string, machine: AnyStateMachine): ChartedMachine => ({
  name,
  source,
  sourceDigest: createHash('sha256')
    .update(fs.readFileSync(path.join(repoRoot, source)))
    .digest('hex')
    .slice(0, 16),
  machine,
});

export const chartedMachines: ChartedMachine[] = [
  charted('service', 'machines/service.ts', serviceMachine),
  charted('host', 'machines/host.ts', hostMachine),
  charted('container', 'machines/container.ts', containerMachine),
  charted('mount', 'machines/mount.ts', mountMachine),
];
