import type Docker from 'dockerode';
import { CONTAINER_PORT } from '../../machines/container/inspection.js';
import type { ContainerInspection } from '../../machines/events.js';
import { getJsonFromEngine, withEngineDeadline } from './client.js';
import { isNotFoundError } from './errors.js';

/** Reads what the machines need from one inspection; the event payload is never trusted. */
export async function inspectContainer(
  docker: Docker,
  containerId: string,
  timeoutMs: number,
): Promise<ContainerInspection> {
  let info: Docker.ContainerInspectInfo;
  try {
    const path = `/containers/${encodeURIComponent(containerId)}/json`;
    info = await (getJsonFromEngine<Docker.ContainerInspectInfo>(docker, path, timeoutMs) ??
      withEngineDeadline(timeoutMs, (deadline) => docker.getContainer(containerId).inspect(deadline)));
  } catch (error) {
    // The engine no longer has it: as far as the machines care, it is not running.
    if (isNotFoundError(error)) {
      return { containerId, name: '', running: false, startedAtMs: 0, hostPortBindings: [] };
    }
    throw error;
  }
  const bindings = info.NetworkSettings?.Ports?.[CONTAINER_PORT] ?? [];
  const startedAtMs = Date.parse(info.State?.StartedAt ?? '');
  return {
    containerId: info.Id,
    name: (info.Name ?? '').replace(/^\//, ''),
    running: info.State?.Running === true,
    startedAtMs: Number.isFinite(startedAtMs) ? startedAtMs : 0,
    hostPortBindings: (bindings ?? []).map((b) => Number(b.HostPort)),
  };
}
