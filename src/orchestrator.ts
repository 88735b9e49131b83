/**
 * Gives the pure machines their implementations: the one place where
 * machines/ meets dockerode, the file system, the logger and the reporter.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { fromCallback, fromEventObservable, fromPromise } from 'xstate';
import { containerMachine } from '../machines/container.js';
import { hostMachine, type HostInput } from '../machines/host.js';
import { mountMachine } from '../machines/mount.js';
import { serviceMachine } from '../machines/service.js';
import type { StopReason } from '../machines/host.js';
import { apiServerActor } from './api/actor.js';
import type { Config } from './config.js';
import type { Docker } from './docker/client.js';
import { dockerEvents$ } from './docker/events.js';
import { inspectContainer } from './docker/inspect.js';
import type { Logger } from './observability/logger.js';
import { reportError, type ErrorReporter } from './observability/reporter.js';
import { CloudStorageMounts } from './resources/cloudStorage.js';
import { MappingFolders } from './resources/mappingFolders.js';

export interface OrchestratorDeps {
  config: Config;
  logger: Logger;
  docker: Docker;
  reporter: ErrorReporter;
  /** Implementations that later parts of the service supply; each has a working default here. */
  handshake?: () => Promise<{ authToken: string }>;
  notifyDeath?: (input: { stopReason: StopReason; leftoverContainers: string[] }) => Promise<void>;
}

export function hostInputFrom(config: Config): HostInput {
  return {
    ttyCount: config.ttyCount,
    startValuesTimeoutMs: config.startValuesTimeoutMs,
    requestWaitMs: config.requestWaitMs,
    drainTimeoutMs: config.drainTimeoutMs,
  };
}

export function createCloudStorageMounts(deps: OrchestratorDeps): CloudStorageMounts {
  return new CloudStorageMounts({
    root: deps.config.paths.cloudStorage,
    cacheDir: path.join(deps.config.paths.private, 'rclone'),
    backends: deps.config.cloudBackends,
    mountTimeoutMs: deps.config.mountTimeoutMs,
    logger: deps.logger,
  });
}

export function provideMountMachine(deps: OrchestratorDeps, mounts: CloudStorageMounts) {
  const { logger, reporter } = deps;
  const about = (context: { containerId: string; hostPort: number; provider: string }) => ({
    containerId: context.containerId,
    hostPort: context.hostPort,
    provider: context.provider,
  });
  return mountMachine.provide({
    actors: {
      startMount: fromPromise(({ input }) => mounts.mount(input, input.credentials)),
      watchMount: fromPromise(({ input }) => mounts.ended(input)),
      stopMount: fromPromise(({ input }) => mounts.unmount(input)),
    },
    actions: {
      reportError: ({ context }, params) =>
        reportError(logger, reporter, new Error(params.message), about(context)),
      logStep: ({ context }, params) => logger.info(about(context), params.message),
    },
  });
}

export function provideContainerMachine(
  deps: OrchestratorDeps,
  folders: MappingFolders,
  mounts: CloudStorageMounts = createCloudStorageMounts(deps),
) {
  const { logger, docker, config, reporter } = deps;
  const about = (context: {
    containerId: string;
    hostPort: number | undefined;
    tty: number | undefined;
  }) => ({
    containerId: context.containerId,
    hostPort: context.hostPort,
    tty: context.tty,
  });
  return containerMachine.provide({
    actors: {
      mount: provideMountMachine(deps, mounts),
      inspectContainer: fromPromise(({ input }) =>
        inspectContainer(docker, input.containerId, config.engineTimeoutMs),
      ),
      writeStartFiles: fromPromise(({ input }) =>
        folders.writeStartFiles(input.containerId, input.hostPort, input.tty),
      ),
      writeStartValues: fromPromise(({ input }) => folders.writeStartValues(input.containerId, input.dpi)),
      // The mounts were drained before this; unmounting the host port again only catches stragglers.
      cleanUpContainer: fromPromise(async ({ input }) => {
        const steps = await Promise.allSettled([
          folders.remove(input.containerId),
          input.hostPort === undefined ? Promise.resolve() : mounts.unmountHostPort(input.hostPort),
        ]);
        const failed = steps.filter((s) => s.status === 'rejected');
        if (failed.length > 0) throw new Error(failed.map((f) => String(f.reason)).join('; '));
      }),
    },
    actions: {
      reportError: ({ context }, params) =>
        reportError(logger, reporter, new Error(params.message), about(context)),
      logStep: ({ context }, params) => logger.info(about(context), params.message),
    },
  });
}

export function provideHostMachine(
  deps: OrchestratorDeps,
  mounts: CloudStorageMounts = createCloudStorageMounts(deps),
) {
  const { logger, docker, config, reporter } = deps;
  const folders = new MappingFolders(config.paths.mappings);
  return hostMachine.provide({
    actors: {
      container: provideContainerMachine(deps, folders, mounts),
      prepareHost: fromPromise(async () => {
        if (!config.allowNonRoot && process.getuid?.() !== 0) {
          throw new Error('the host service must run as root (set ALLOW_NON_ROOT=1 for development runs)');
        }
        await folders.ensureRoot();
        // Until reconciliation adopts them, folders from an earlier run describe nothing we track.
        for (const stale of await folders.list()) await folders.remove(stale);
        await fs.mkdir(config.paths.private, { recursive: true, mode: 0o700 });
        await fs.mkdir(config.paths.cloudStorage, { recursive: true, mode: 0o755 });
        const stale = await mounts.removeStaleMounts();
        if (stale.length > 0)
          logger.warn({ mounts: stale }, 'detached cloud storage mounts of an earlier run');
      }),
      handshake: fromPromise(() => (deps.handshake ?? (async () => ({ authToken: 'development' })))()),
      dockerEvents: fromEventObservable(() =>
        dockerEvents$(docker, {
          relistIntervalMs: config.relistIntervalMs,
          engineTimeoutMs: config.engineTimeoutMs,
        }),
      ),
      apiServer: apiServerActor({ config, logger, reporter, knownProviders: mounts.providers }),
      heartbeats: fromCallback(() => {}),
    },
    actions: {
      reportError: (_, params) => reportError(logger, reporter, new Error(params.message)),
      logStep: (_, params) => logger.info(params.message),
    },
  });
}

export function provideServiceMachine(deps: OrchestratorDeps) {
  const { logger, reporter } = deps;
  const mounts = createCloudStorageMounts(deps);
  return serviceMachine.provide({
    actors: {
      host: provideHostMachine(deps, mounts),
      notifyDeath: fromPromise(async ({ input }) => {
        if (deps.notifyDeath) await deps.notifyDeath(input);
        // Containers unmount their own; this catches any that a drain timeout left behind.
        await mounts
          .unmountAll()
          .catch((error: Error) => reportError(logger, reporter, error, { step: 'unmount at stop' }));
        await fs.rm(deps.config.paths.mappings, { recursive: true, force: true });
        await fs.rm(deps.config.paths.private, { recursive: true, force: true });
      }),
    },
    actions: {
      reportError: (_, params) => reportError(logger, reporter, new Error(params.message)),
      logStep: (_, params) => logger.info(params.message),
    },
  });
}
