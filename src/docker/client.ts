/**
 * The engine client. dockerode reads DOCKER_HOST the way Docker's own tools
 * do. No client-wide timeout: docker-modem would apply it to the event stream
 * too and kill it when idle, so every call gets its own deadline instead.
 */
import Docker from 'dockerode';

export function createDockerClient(): Docker {
  return new Docker();
}

/** An abort signal for one engine call, so that a hung engine cannot hang us. */
export function engineDeadline(timeoutMs: number): { abortSignal: AbortSignal } {
  return { abortSignal: AbortSignal.timeout(timeoutMs) };
}

export function describeDockerHost(): string {
  return process.env['DOCKER_HOST'] ?? 'unix:///var/run/docker.sock';
}

export type { Docker };
