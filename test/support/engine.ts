/**
 * The private engine that `make test` started (scripts/test-engine.sh), and
 * helpers to run test containers on it. Ports are published on 127.0.0.1 only.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { repoRoot } from './service.js';

const run = promisify(execFile);

export const docker = new Docker();
export const testImage = process.env['HS_TEST_IMAGE'] ?? 'hs-test:latest';

export interface ContainerOptions {
  /** Publish 32262/tcp on 127.0.0.1 (default true). */
  publish?: boolean;
  name?: string;
  cmd?: string[];
  /** Publish on this host port instead of one the engine picks. */
  hostPort?: number;
}

export async function startContainer(options: ContainerOptions = {}): Promise<Docker.Container> {
  const container = await docker.createContainer({
    Image: testImage,
    Cmd: options.cmd ?? ['sleep', '3600'],
    name: options.name,
    ExposedPorts: options.publish === false ? {} : { '32262/tcp': {} },
    HostConfig: {
      PortBindings:
        options.publish === false
          ? {}
          : {
              '32262/tcp': [
                { HostIp: '127.0.0.1', HostPort: options.hostPort ? String(options.hostPort) : '' },
              ],
            },
      // The busybox sleep does not handle SIGTERM: stop it at once.
      Init: false,
    },
    StopTimeout: 0,
  });
  await container.start();
  return container;
}

/** The host port the engine published, as `docker port` reports it. */
export async function publishedPort(containerId: string): Promise<number> {
  const { stdout } = await run('docker', ['port', containerId, '32262/tcp']);
  const port = Number(stdout.trim().split('\n')[0]!.split(':').pop());
  if (!Number.isInteger(port)) throw new Error(`docker port printed ${stdout}`);
  return port;
}

export async function removeContainer(containerId: string): Promise<void> {
  await docker.getContainer(containerId).remove({ force: true });
}

export async function removeAllContainers(): Promise<void> {
  const all = await docker.listContainers({ all: true });
  await Promise.all(
    all.map((c) =>
      docker
        .getContainer(c.Id)
        .remove({ force: true })
        .catch(() => {}),
    ),
  );
}

function engineDir(): string {
  const dir = process.env['HS_TEST_ENGINE_DIR'];
  if (!dir) throw new Error('HS_TEST_ENGINE_DIR is not set: run the tests with `make test`');
  return dir;
}

/** Stops the private engine; containers keep running (live-restore). */
export async function stopEngine(): Promise<void> {
  await run(path.join(repoRoot, 'scripts/test-engine.sh'), ['stop', engineDir()]);
}

export async function startEngine(): Promise<void> {
  await run(path.join(repoRoot, 'scripts/test-engine.sh'), ['start', engineDir()]);
}
