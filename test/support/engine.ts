/**
 * The private engine that `make test` started (scripts/test-engine.sh), and
 * helpers to run test containers on it. Ports are published on 127.0.0.1 only.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { listFolders, readFolder } from './mappings.js';
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
  /** Bind mounts, as `docker run -v` takes them. */
  binds?: string[];
}

export async function startContainer(options: ContainerOptions = {}): Promise<Docker.Container> {
  for (let attempt = 1; ; attempt++) {
    const container = await docker.createContainer({
      Image: testImage,
      Cmd: options.cmd ?? ['sleep', '3600'],
      name: options.name,
      ExposedPorts: options.publish === false ? {} : { '32262/tcp': {} },
      HostConfig: {
        Binds: options.binds,
        PortBindings:
          options.publish === false
            ? {}
            : {
                '32262/tcp': [
                  { HostIp: '127.0.0.1', HostPort: options.hostPort ? String(options.hostPort) : '' },
                ],
              },
      },
      StopTimeout: 0,
    });
    try {
      await container.start();
      return container;
    } catch (error) {
      await container.remove({ force: true }).catch(() => {});
      // Another engine on this machine (a developer's, or `make run`'s) may hold the port this one picked;
      // engines hand out ports in order, so one with a block of them in use can take several tries.
      if (!String(error).includes('address already in use') || attempt >= 20) throw error;
    }
  }
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

/** Runs `task` over `items` with at most `limit` at a time: the engine slows down under hundreds of parallel calls. */
export async function inPool<T, R>(items: T[], limit: number, task: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

export function startContainers(count: number, options: ContainerOptions = {}, limit = 16) {
  return inPool(
    Array.from({ length: count }, (_, i) => i),
    limit,
    () => startContainer(options),
  );
}

export async function removeAllContainers(): Promise<void> {
  const all = await docker.listContainers({ all: true });
  await inPool(all, 16, (c) =>
    docker
      .getContainer(c.Id)
      .remove({ force: true })
      .catch(() => {}),
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

/**
 * The running containers the service should follow (all but the ECS agent), sorted, split by whether
 * they publish a host port for 32262. An engine stopped in the middle of a start can come back listing
 * that container as running with no port and no start time; the service rejects it, rightly.
 */
async function runningContainers(): Promise<{ withPort: string[]; withoutPort: string[] }> {
  const split = { withPort: [] as string[], withoutPort: [] as string[] };
  for (const c of await docker.listContainers()) {
    if (c.Names[0] === '/ecs-agent') continue;
    const publishes = c.Ports.some((p) => p.PrivatePort === 32262 && p.PublicPort !== undefined);
    (publishes ? split.withPort : split.withoutPort).push(c.Id);
  }
  return { withPort: split.withPort.sort(), withoutPort: split.withoutPort.sort() };
}

/** Ids of the running containers the service should give a folder, sorted. */
export async function runningIds(): Promise<string[]> {
  return (await runningContainers()).withPort;
}

/** Ids of running containers (not the ECS agent) that publish no host port for 32262: the service rejects them. */
export async function runningWithoutPort(): Promise<string[]> {
  return (await runningContainers()).withoutPort;
}

/**
 * The folders match the engine exactly, each with its TTY. Until then it throws what differs, so
 * that a `waitFor` that times out says which containers the service and the engine disagree on.
 */
export async function foldersMatchEngine(mappings: string) {
  const running = await runningIds();
  const folders = listFolders(mappings);
  const short = (ids: string[]) => ids.map((id) => id.slice(0, 12)).join(', ') || 'none';
  if (JSON.stringify(folders) !== JSON.stringify(running)) {
    const withoutFolder = running.filter((id) => !folders.includes(id));
    const withoutContainer = folders.filter((id) => !running.includes(id));
    throw new Error(
      `${running.length} running, ${folders.length} folders; running without a folder: ${short(withoutFolder)}; ` +
        `folders without a running container: ${short(withoutContainer)}`,
    );
  }
  const ttys = running.map((id) => readFolder(mappings, id)?.tty);
  const withoutTty = running.filter((_, i) => ttys[i] === undefined);
  if (withoutTty.length > 0) throw new Error(`folders without a tty yet: ${short(withoutTty)}`);
  return { running, ttys: ttys as number[] };
}
