/**
 * The snapshot of the real service on a real engine, asked for with SIGUSR2
 * and over the authenticated API (which `make status` uses).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { StateSnapshot } from '../../src/observability/stateSnapshot.js';
import { publishedPort, removeAllContainers, startContainer } from '../support/engine.js';
import { readFolder } from '../support/mappings.js';
import { repoRoot, startService, TEST_AUTH_SECRET } from '../support/service.js';
import { apiClient } from '../support/api.js';
import { waitFor } from '../support/wait.js';

const run = promisify(execFile);

describe('the state snapshot of a live service', () => {
  it('shows a container waiting for its DPI with its host port and TTY', async () => {
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

describe('POST /state_snapshot', () => {
  it('shows containers in ttyAssigned and running over the API, and refuses a request without the secret', async () => {
    await removeAllContainers();
    const service = await startService();
    const api = await apiClient(service);
    try {
      const waiting = await startContainer();
      const ready = await startContainer();
      await waitFor('both folders', () =>
        [waiting, ready].every((c) => readFolder(service.mappings, c.id)?.tty !== undefined),
      );
      const readyPort = await publishedPort(ready.id);
      expect((await api.setDpi(readyPort, 192)).status).toBe(200);

      const answer = await api.request('POST', '/state_snapshot', { auth_secret: TEST_AUTH_SECRET });
      expect(answer.status).toBe(200);
      const snapshot = JSON.parse(answer.body) as StateSnapshot;
      const byId = Object.fromEntries(snapshot.containers.map((c) => [c.containerId, c]));
      expect(byId[waiting.id]).toMatchObject({
        state: 'ttyAssigned.waiting',
        hostPort: await publishedPort(waiting.id),
      });
      expect(byId[ready.id]).toMatchObject({ state: 'running.idle', hostPort: readyPort, dpi: 192 });
      expect(snapshot.host?.regions['api']).toBe('listening');

      // The status command prints the same, as a table, pinning the service's certificate.
      const { stdout } = await run(process.execPath, ['--import', 'tsx', 'scripts/status.ts'], {
        cwd: repoRoot,
        env: {
          ...process.env,
          HOST_SERVICE_URL: `https://127.0.0.1:${service.port}`,
          HOST_SERVICE_ROOT: service.root,
          WEBSERVER_AUTH_SECRET: TEST_AUTH_SECRET,
        },
      });
      expect(stdout).toContain('running.idle');
      expect(stdout).toContain(waiting.id.slice(0, 12));

      const refused = await api.request('POST', '/state_snapshot', {});
      expect(refused).toMatchObject({ status: 401, body: 'auth_secret is missing' });
      const wrong = await api.request('POST', '/state_snapshot', {
        auth_secret: 'x'.repeat(TEST_AUTH_SECRET.length),
      });
      expect(wrong).toMatchObject({ status: 401, body: 'auth_secret is wrong' });
    } finally {
      api.close();
      await removeAllContainers();
      expect(await service.stop()).toBe(0);
    }
  });
});
