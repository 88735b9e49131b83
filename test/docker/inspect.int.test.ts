/**
 * An inspection against the real private engine: the direct GET on the
 * client's kept connections (src/docker/client.ts, `getJsonFromEngine`, over
 * src/docker/engineConnections.ts) reads what dockerode reads, and fails the
 * way dockerode fails.
 */
import Docker from 'dockerode';
import { afterAll, describe, expect, it } from 'vitest';
import { createDockerClient, getJsonFromEngine } from '../../src/docker/client.js';
import { isNotFoundError } from '../../src/docker/errors.js';
import { inspectContainer } from '../../src/docker/inspect.js';
import { removeAllContainers, startContainer } from '../support/engine.js';

const docker = createDockerClient();
const missingId = 'f'.repeat(64);

afterAll(removeAllContainers);

describe('inspecting a container', () => {
  it('takes the direct GET on a unix socket, and reads what dockerode reads', async () => {
    const container = await startContainer();
    const direct = getJsonFromEngine<Docker.ContainerInspectInfo>(
      docker,
      `/containers/${container.id}/json`,
      AbortSignal.timeout(5_000),
    );
    expect(direct).toBeInstanceOf(Promise);
    const viaDockerode = await docker.getContainer(container.id).inspect();
    expect(await direct).toEqual(viaDockerode);

    const inspection = await inspectContainer(docker, container.id, 5_000);
    expect(inspection).toMatchObject({ containerId: container.id, running: true });
    expect(inspection.hostPortBindings.length).toBeGreaterThan(0);
    expect(inspection.hostPortBindings.every((port) => port > 0)).toBe(true);
    expect(inspection.startedAtMs).toBe(Date.parse(viaDockerode.State.StartedAt));
  });

  it('fails with the answer status code, as dockerode does: a missing container reads as not running', async () => {
    const failure = await getJsonFromEngine(
      docker,
      `/containers/${missingId}/json`,
      AbortSignal.timeout(5_000),
    )!.then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(isNotFoundError(failure)).toBe(true);
    expect(String(failure)).toMatch(/^Error: \(HTTP code 404\) No such container/i);
    await expect(inspectContainer(docker, missingId, 5_000)).resolves.toEqual({
      containerId: missingId,
      name: '',
      running: false,
      startedAtMs: 0,
      hostPortBindings: [],
    });
  });

  it('gives up at its deadline', async () => {
    const deadline = new AbortController();
    deadline.abort(new Error('no answer within 0 ms'));
    await expect(
      getJsonFromEngine(docker, `/containers/${missingId}/json`, deadline.signal),
    ).rejects.toThrow();
  });

  it('leaves any other client to dockerode: one dockerode made itself, or one over TCP', () => {
    const path = `/containers/${missingId}/json`;
    expect(getJsonFromEngine(new Docker(), path, AbortSignal.timeout(5_000))).toBeUndefined();
    const overTcp = new Docker({ host: '127.0.0.1', port: 9 });
    expect(getJsonFromEngine(overTcp, path, AbortSignal.timeout(5_000))).toBeUndefined();
  });
});
