/**
 * The ECS agent container, which production hosts run beside ours and which
 * the service starts itself once the webserver knows the host (so that no
 * task is placed on a host nobody tracks). The container is the one the
 * fleet always ran: named `ecs-agent`, restarted by the engine up to ten
 * times on failure, on the host's network, with the host's run, log, data
 * and config folders mounted and its settings from the ECS config file.
 * NVIDIA devices, the GPU info folder and the driver volume are added only on
 * hosts that have them.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type Docker from 'dockerode';
import { ECS_AGENT_NAME } from '../../machines/events.js';
import { parseEnvFile } from '../envFile.js';
import type { Logger } from '../observability/logger.js';
import { engineDeadline } from './client.js';
import { isNotFoundError } from './errors.js';
import { errorMessage } from '../../machines/shared.js';

export interface EcsAgentOptions {
  image: string;
  /** Prefix of every host path below ('/' on a real host). */
  hostRoot: string;
  engineTimeoutMs: number;
  /** How long to wait for the container to be running. */
  startTimeoutMs?: number;
}

/** Host folder → path inside the agent container. */
const AGENT_MOUNTS: [string, string][] = [
  ['/var/run', '/var/run'],
  ['/var/log/ecs', '/log'],
  ['/var/lib/ecs/data', '/data'],
  ['/etc/ecs', '/etc/ecs'],
];
const ENV_FILE = '/etc/ecs/ecs.config';
const GPU_INFO_DIR = '/var/lib/ecs/gpu';
const NVIDIA_DRIVER_VOLUME = /^nvidia_driver_/;

const exists = (p: string) =>
  fs.access(p).then(
    () => true,
    () => false,
  );

async function nvidiaDevices(hostRoot: string): Promise<Docker.DeviceMapping[]> {
  const dev = path.join(hostRoot, 'dev');
  const names = await fs.readdir(dev).catch(() => [] as string[]);
  return names
    .filter((n) => /^nvidia(\d+|ctl|-uvm|-uvm-tools)$/.test(n))
    .sort()
    .map((n) => {
      const device = path.join(dev, n);
      return { PathOnHost: device, PathInContainer: path.join('/dev', n), CgroupPermissions: 'rwm' };
    });
}

export async function ecsAgentCreateOptions(
  docker: Docker,
  options: EcsAgentOptions,
): Promise<Docker.ContainerCreateOptions> {
  const host = (p: string) => path.join(options.hostRoot, p);
  const envFile = host(ENV_FILE);
  let envText: string;
  try {
    envText = await fs.readFile(envFile, 'utf8');
  } catch (error) {
    throw new Error(`the ECS agent's settings file ${envFile} cannot be read: ${errorMessage(error)}`, {
      cause: error,
    });
  }
  const env = Object.entries(parseEnvFile(envText, envFile)).map(([k, v]) => `${k}=${v}`);
  const binds = AGENT_MOUNTS.map(([from, to]) => `${host(from)}:${to}`);
  if (await exists(host(GPU_INFO_DIR))) binds.push(`${host(GPU_INFO_DIR)}:${GPU_INFO_DIR}`);
  const { Volumes } = await docker.listVolumes(engineDeadline(options.engineTimeoutMs));
  const driverVolume = (Volumes ?? []).find((v) => NVIDIA_DRIVER_VOLUME.test(v.Name));
  if (driverVolume) binds.push(`${driverVolume.Name}:/usr/local/nvidia:ro`);
  const devices = await nvidiaDevices(options.hostRoot);
  return {
    name: ECS_AGENT_NAME,
    Image: options.image,
    Env: env,
    HostConfig: {
      NetworkMode: 'host',
      RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 10 },
      Binds: binds,
      ...(devices.length > 0 ? { Devices: devices } : {}),
    },
  };
}

async function inspectIfPresent(docker: Docker, name: string, timeoutMs: number) {
  try {
    return await docker.getContainer(name).inspect(engineDeadline(timeoutMs));
  } catch (error) {
    if (isNotFoundError(error)) return undefined;
    throw error;
  }
}

/** Creates and starts the agent (or keeps a running one), and resolves once it runs. */
export async function startEcsAgent(
  docker: Docker,
  options: EcsAgentOptions,
  logger: Logger,
): Promise<string> {
  const deadline = engineDeadline(options.engineTimeoutMs);
  const existing = await inspectIfPresent(docker, ECS_AGENT_NAME, options.engineTimeoutMs);
  if (existing?.State.Running) {
    logger.info({ containerId: existing.Id }, 'the ECS agent is already running');
    return existing.Id;
  }
  // A stopped agent from an earlier run may carry other options: start from a clean one.
  if (existing) await docker.getContainer(existing.Id).remove({ force: true, ...deadline });
  const created = await docker.createContainer({
    ...(await ecsAgentCreateOptions(docker, options)),
    ...deadline,
  });
  await created.start(deadline);

  const until = Date.now() + (options.startTimeoutMs ?? 30_000);
  for (;;) {
    const state = (await created.inspect(engineDeadline(options.engineTimeoutMs))).State;
    if (state.Running) break;
    if (state.Status === 'exited' || state.Status === 'dead') {
      throw new Error(
        `the ECS agent container exited at once (code ${state.ExitCode}): ${state.Error || 'no error given'}`,
      );
    }
    if (Date.now() > until)
      throw new Error(`the ECS agent container was not running after ${options.startTimeoutMs ?? 30_000} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  logger.info({ containerId: created.id, image: options.image }, 'the ECS agent is running');
  return created.id;
}
