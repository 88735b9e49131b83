import { classifyInspection } from '../../machines/container/machine.js';
import type { ContainerInspection } from '../../machines/events.js';

/** A fake engine's inspection, classified as the real one is (src/composition.ts). */
export const inspectWith =
  (inspect: (input: { containerId: string }) => Promise<ContainerInspection>) =>
  async (containerId: string) =>
    classifyInspection(await inspect({ containerId }));
