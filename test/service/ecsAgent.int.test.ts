import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { docker, removeAllContainers, startContainer, testImage } from '../support/engine.js';
import { listFolders } from '../support/mappings.js';
import { freshRoot, startService } from '../support/service.js';
import { startStandIns, type StandIns } from '../support/standins/index.js';
import { waitFor } from '../support/wait.js';

const AGENT_IMAGE = 'hs-ecs-agent-test:latest';

describe('production duties on the private engine', () => {
  let standIns: StandIns;
  let hostRoot: string;

  beforeAll(async () => {
    await removeAllContainers();
    await docker.getImage(testImage).tag({ repo: 'hs-ecs-agent-test', tag: 'latest' });
    standIns = await startStandIns();
    hostRoot = freshRoot();
    fs.mkdirSync(path.join(hostRoot, 'etc/ecs'), { recursive: true });
    fs.writeFileSync(
      path.join(hostRoot, 'etc/ecs/ecs.config'),
      '# written by the host setup\nECS_CLUSTER=test-cluster\nECS_LOGLEVEL=info\n',
    );
  });
  afterAll(async () => {
    await removeAllContainers();
    await standIns.close();
  });

  it('starts the ecs-agent container with the fleet options after the handshake, and does not track it', async () => {
    const service = await startService({
      env: {
        ...standIns.env,
        APP_ENV: 'production',
        WEBSERVER_AUTH_SECRET: 'test-secret',
        ECS_AGENT_IMAGE: AGENT_IMAGE,
        ECS_AGENT_HOST_ROOT: hostRoot,
      },
    });
    try {
      const agent = await docker.getContainer('ecs-agent').inspect();
      expect(agent.State.Running).toBe(true);
      expect(agent.Config.Image).toBe(AGENT_IMAGE);
      expect(agent.HostConfig.RestartPolicy).toEqual({ Name: 'on-failure', MaximumRetryCount: 10 });
      expect(agent.HostConfig.NetworkMode).toBe('host');
      expect(agent.HostConfig.Binds).toEqual([
        `${hostRoot}/var/run:/var/run`,
        `${hostRoot}/var/log/ecs:/log`,
        `${hostRoot}/var/lib/ecs/data:/data`,
        `${hostRoot}/etc/ecs:/etc/ecs`,
      ]);
      // No NVIDIA devices on this host, so none are passed.
      expect(agent.HostConfig.Devices ?? []).toEqual([]);
      expect(agent.Config.Env).toEqual(
        expect.arrayContaining(['ECS_CLUSTER=test-cluster', 'ECS_LOGLEVEL=info']),
      );

      // Started only once the webserver knew the host.
      const handshakeAt = standIns.webserver.handshakes()[0]!.at;
      expect(Date.parse(agent.Created)).toBeGreaterThanOrEqual(handshakeAt - 1000);

      // The container machine ignores it, and still follows an ordinary container.
      const other = await startContainer();
      await waitFor('the ordinary container folder', () => listFolders(service.mappings).includes(other.id));
      expect(listFolders(service.mappings)).toEqual([other.id]);
      await other.remove({ force: true });
      await waitFor('its folder gone', () => listFolders(service.mappings).length === 0);
    } finally {
      expect(await service.stop()).toBe(0);
    }
    // Production Sentry is on: a clean stop reports nothing.
    expect(standIns.sentry.events()).toEqual([]);
  });
});
