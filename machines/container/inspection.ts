/**
 * What one inspection of a container means for it, decided once, in one
 * place: the machine only asks which kind of answer it got.
 */
import { ECS_AGENT_NAME, type ContainerInspection } from '../events.js';

/** The port every desktop container publishes for the webserver's traffic. */
export const CONTAINER_PORT = '32262/tcp';

export type HostPortResult = { ok: true; hostPort: number } | { ok: false; reason: string };

/**
 * Engines publish one binding per address family; all must agree on the port.
 */
export function publishedHostPort(bindings: readonly number[]): HostPortResult {
  if (bindings.length === 0) return { ok: false, reason: `no host port is published for ${CONTAINER_PORT}` };
  const distinct = [...new Set(bindings)];
  if (distinct.length > 1) {
    return {
      ok: false,
      reason: `the bindings of ${CONTAINER_PORT} disagree on the host port: ${distinct.join(', ')}`,
    };
  }
  const hostPort = distinct[0]!;
  if (!Number.isInteger(hostPort) || hostPort < 1 || hostPort > 65535) {
    return { ok: false, reason: `${CONTAINER_PORT} is published on an invalid host port ${hostPort}` };
  }
  return { ok: true, hostPort };
}

/** The inspection, classified. */
export type InspectionVerdict =
  /** The ECS agent's own container: not ours. */
  | { kind: 'ignored' }
  /** Gone before it was set up, or (adopted) gone while the service was down. */
  | { kind: 'notRunning' }
  | { kind: 'ready'; name: string; startedAtMs: number; hostPort: number }
  /** Running, but it cannot be set up: the reason names what is wrong. */
  | { kind: 'unusable'; name: string; reason: string };

export function classifyInspection(inspection: ContainerInspection): InspectionVerdict {
  if (inspection.name === ECS_AGENT_NAME) return { kind: 'ignored' };
  if (!inspection.running) return { kind: 'notRunning' };
  const port = publishedHostPort(inspection.hostPortBindings);
  if (!port.ok) return { kind: 'unusable', name: inspection.name, reason: port.reason };
  return {
    kind: 'ready',
    name: inspection.name,
    startedAtMs: inspection.startedAtMs,
    hostPort: port.hostPort,
  };
}
