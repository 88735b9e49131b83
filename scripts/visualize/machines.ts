/**
 * The machines that get a chart. Add a machine here and `make visualize`
 * writes its document; the drift check then holds it to the code.
 */
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
  machine: AnyStateMachine;
}

export const chartedMachines: ChartedMachine[] = [
  { name: 'service', source: 'machines/service.ts', machine: serviceMachine },
  { name: 'host', source: 'machines/host.ts', machine: hostMachine },
  { name: 'container', source: 'machines/container.ts', machine: containerMachine },
  { name: 'mount', source: 'machines/mount.ts', machine: mountMachine },
];
