import { fromPromise } from 'xstate';
import { classifyInspection } from '../../machines/container/machine.js';
import type { ContainerInspection } from '../../machines/events.js';

/** A fake engine's inspection, classified as the real one is (src/composition.ts). */
export const inspectWith = (inspect: (input: { containerId: string }) => Promise<ContainerInspection>) =>
  fromPromise(async ({ input }: { input: { containerId: string } }) =>
    classifyInspection(await inspect(input)),
  );
