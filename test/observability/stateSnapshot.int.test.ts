/**
 * The snapshot of the real service on a real engine, asked for with SIGUSR2
 * (the API endpoint will serve the same function).
 */
import { describe, expect, it } from 'vitest';
import type { StateSnapshot } from '../../src/observability/stateSnapshot.js';
import { publishedPort, removeAllContainers, startContainer } from '../support/engine.js';
import { readFolder } from '../support/mappings.js';
import { startService } from '../support/service.js';
import { waitFor } from '../support/wait.js';

describe('the state snapshot of a live service', () => {
  it('shows a container waiting for its start values with its host port and TTY', async () => {
    await removeAllContainers();
    const service = await startService();
    try {
      const container = await startContainer();
      const folder = await waitFor('the folder', () => readFolder(service.mappings, container.id)?.tty);
      service.process.kill('SIGUSR2');
      const line = await service.waitForLog('the snapshot', (l) => l.msg === 'state snapshot');
      const snapshot = line['stateSnapshot'] as StateSnapshot;
      expect(snapshot.service.state).toBe('running.active');
      expect(snapshot.host?.state).toBe('serving');
      expect(snapshot.host?.regions['engine']).toBe('connected');
      expect(snapshot.containers).toEqual([
        expect.objectContaining({
          containerId: container.id,
          state: 'ttyAssigned.waiting',
          hostPort: await publishedPort(container.id),
          tty: folder,
          dpi: null,
        }),
      ]);
      expect(snapshot.containers[0]!.inStateMs).toBeGreaterThanOrEqual(0);
    } finally {
      await removeAllContainers();
      expect(await service.stop()).toBe(0);
    }
  });
});
