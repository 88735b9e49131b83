import type Docker from 'dockerode';
import { engineDeadline } from './client.js';

/** The ids of the containers the engine says are running; rejects when it does not answer in time. */
export async function runningContainerIds(docker: Docker, timeoutMs: number): Promise<string[]> {
  const containers = await docker.listContainers({
    filters: { status: ['running'] },
    ...engineDeadline(timeoutMs),
  });
  return containers.map((c) => c.Id);
}
