/**
 * Gives the pure machines their implementations: the one place where
 * machines/ meets dockerode, the file system, the logger and the reporter.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { fromCallback, fromEventObservable, fromPromise } from 'xstate';
import { classifyInspection, containerMachine } from '../machines/container/machine.js';
import { hostMachine, type HostInput } from '../machines/host/machine.js';
import { mountMachine } from '../machines/mount/machine.js';
import { serviceMachine } from '../machines/service/machine.js';
import type { FolderRecord } from '../machines/events.js';
import type { StopReason } from '../machines/host/machine.js';
import { apiServerActor } from './api/actor.js';
import type { Config } from './config.js';
import type { Docker } from './docker/client.js';
import { dockerEvents$ } from './docker/events.js';
import { inspectContainer } from './docker/inspect.js';
import { runningContainerIds } from './docker/running.js';
import type { Logger } from './observability/logger.js';
import { reportError, type ErrorReporter } from './observability/reporter.js';
import { CloudStorageMounts } from './resources/cloudStorage.js';
import { MappingFolders } from './resources/mappingFolders.js';
import { errorMessage } from '../machines/shared.js';

export interface OrchestratorDeps {
  config: Config;
  logger: Logger;
  docker: Docker;
  reporter: ErrorReporter;
  /** The webserver handshake (src/hostDuties.ts); there is deliberately no default: no token, no service. */
  handshake: () => Promise<{ authToken: string }>;
  /** At boot, after the root check and before the folders: engine, identity, webserver. */
  boot?: () => Promise<void>;
  startEcsAgent?: () => Promise<void>;
  /** Starts heartbeats with the handshake's token; returns what stops them. */
  startHeartbeats?: (authToken: string) => () => void;
  /** Every actor's state (bound once the service actor exists), for the API's state snapshot. */
  stateSnapshot?: () => unknown;
  /** Shutdown path, last step. */
  sendDyingHeartbeat?: () => Promise<void>;
}

/** Sentry gets at most this long on the way out. */
export const SHUTDOWN_FLUSH_MS = 5000;

export function hostInputFrom(config: Config): HostInput {
  return {
    ttyCount: config.ttyCount,
    dpiTimeoutMs: config.dpiTimeoutMs,
    requestWaitMs: config.requestWaitMs,
    connectedRequestWaitMs: config.connectedRequestWaitMs,
    drainTimeoutMs: config.drainTimeoutMs,
    handshakeTimeoutMs: config.handshakeTimeoutMs,
    handshakeRetryMs: config.handshakeRetryMs,
  };
}

/** The engine gets this long at stop to say which containers run; without an answer, everything is kept. */
export const STOP_LIST_TIMEOUT_MS = 5000;

/** rclone's per-mount cache and log, under the root like every other path (root only). */
export function rcloneStateDir(config: Config): string {
  return path.join(config.root, 'var', 'lib', 'ecs-host-service', 'rclone');
}

/** The one registry of cloud-storage mounts: made once per process, by the service. */
export function createCloudStorageMounts(deps: OrchestratorDeps): CloudStorageMounts {
  return new CloudStorageMounts({
    root: deps.config.paths.cloudStorage,
    stateDir: rcloneStateDir(deps.config),
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
  mounts: CloudStorageMounts,
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
      inspectContainer: fromPromise(async ({ input }) =>
        classifyInspection(await inspectContainer(docker, input.containerId, config.engineTimeoutMs)),
      ),
      writeStartFiles: fromPromise(({ input }) =>
        folders.writeStartFiles(input.containerId, input.hostPort, input.tty),
      ),
      writeDpi: fromPromise(({ input }) => folders.writeDpi(input.containerId, input.dpi)),
      // The container's mount actors have unmounted theirs before this: only the folder is left.
      cleanUpContainer: fromPromise(({ input }) => folders.remove(input.containerId)),
    },
    actions: {
      reportError: ({ context }, params) =>
        reportError(logger, reporter, new Error(params.message), about(context)),
      logStep: ({ context }, params) => logger.info(about(context), params.message),
      logWarning: ({ context }, params) => logger.warn(about(context), params.message),
    },
  });
}

export function provideHostMachine(deps: OrchestratorDeps, mounts: CloudStorageMounts) {
  const { logger, docker, config, reporter } = deps;
  const folders = new MappingFolders(config.paths.mappings);
  return hostMachine.provide({
    actors: {
      container: provideContainerMachine(deps, folders, mounts),
      prepareHost: fromPromise(async (): Promise<{ folders: FolderRecord[] }> => {
        if (!config.allowNonRoot && process.getuid?.() !== 0) {
          throw new Error('the host service must run as root (set ALLOW_NON_ROOT=1 for development runs)');
        }
        await deps.boot?.();
        await folders.ensureRoot();
        await fs.mkdir(config.paths.private, { recursive: true, mode: 0o700 });
        await fs.mkdir(config.paths.cloudStorage, { recursive: true, mode: 0o755 });
        // Folders an earlier run left: the host reserves what they hold and adopts or cleans them up.
        const records = await folders.readAll();
        if (records.length > 0) logger.info({ folders: records.length }, 'found folders of an earlier run');
        // Mounts it left: adopted by the containers of those folders, unless their rclone died.
        const found = await mounts.reconcile(records);
        if (found.adopted.size > 0)
          logger.info({ containers: found.adopted.size }, 'adopted cloud storage mounts');
        if (found.removed.length > 0)
          logger.info({ mounts: found.removed }, 'unmounted cloud storage of containers that are gone');
        if (found.orphaned.length > 0) {
          reportError(
            logger,
            reporter,
            new Error(
              `cloud storage whose rclone died while the service was down, detached: ${found.orphaned.join(', ')}`,
            ),
          );
        }
        return {
          folders: records.map((record) => ({
            ...record,
            mounts: found.adopted.get(record.containerId) ?? [],
          })),
        };
      }),
      handshake: fromPromise(() => deps.handshake()),
      dockerEvents: fromEventObservable(() =>
        dockerEvents$(docker, {
          relistIntervalMs: config.relistIntervalMs,
          engineTimeoutMs: config.engineTimeoutMs,
        }),
      ),
      apiServer: apiServerActor({
        config,
        logger,
        reporter,
        knownProviders: mounts.providers,
        stateSnapshot: () => deps.stateSnapshot?.(),
      }),
      heartbeats: fromCallback(({ input }) => deps.startHeartbeats?.(input.authToken)),
      listRunningContainers: fromPromise(async () => {
        const listedAtMs = Date.now();
        return { running: await runningContainerIds(docker, STOP_LIST_TIMEOUT_MS), listedAtMs };
      }),
      startEcsAgent: fromPromise(async () => deps.startEcsAgent?.()),
    },
    actions: {
      reportError: (_, params) => reportError(logger, reporter, new Error(params.message)),
      logStep: (_, params) => logger.info(params.message),
      logWarning: (_, params) => logger.warn(params.message),
    },
  });
}

/**
 * The one shutdown path, in the contract's order: the private folder, Sentry,
 * the dying heartbeat. The host has already let go of the running containers
 * (their folders, TTYs and mounts stay) and drained the dead ones; the
 * mapping folder itself is never removed: the running containers bind-mount
 * it. Every step is attempted even when an earlier one fails.
 */
async function shutDown(deps: OrchestratorDeps, stopReason: StopReason): Promise<void> {
  const { logger, reporter, config } = deps;
  const failures: string[] = [];
  const step = async (what: string, action: () => Promise<unknown>) => {
    try {
      await action();
    } catch (error) {
      failures.push(`${what}: ${errorMessage(error)}`);
      logger.error({ err: error }, `shutdown: ${what} failed`);
    }
  };
  if (stopReason.fatal) {
    reportError(
      logger,
      reporter,
      new Error(`the host service is stopping on a fatal error: ${stopReason.message}`),
    );
  }
  // Retries: a write still finishing (the API's key and certificate when a signal
  // arrives during start) can add a file between the walk and the rmdir, which fails
  // with ENOTEMPTY. Once the folder is gone no write can bring it back (none makes it).
  await step('removing the private folder', () =>
    fs.rm(config.paths.private, { recursive: true, force: true, maxRetries: 5, retryDelay: 20 }),
  );
  await step('flushing Sentry', async () => {
    if (!(await reporter.flush(SHUTDOWN_FLUSH_MS)))
      logger.warn(`Sentry was not flushed within ${SHUTDOWN_FLUSH_MS} ms`);
  });
  await step('sending the dying heartbeat', async () => deps.sendDyingHeartbeat?.());
  if (failures.length > 0) throw new Error(failures.join('; '));
}

export function provideServiceMachine(deps: OrchestratorDeps) {
  const { logger, reporter } = deps;
  const mounts = createCloudStorageMounts(deps);
  return serviceMachine.provide({
    actors: {
      host: provideHostMachine(deps, mounts),
      notifyDeath: fromPromise(({ input }) => shutDown(deps, input.stopReason)),
    },
    actions: {
      reportError: (_, params) => reportError(logger, reporter, new Error(params.message)),
      logStep: (_, params) => logger.info(params.message),
    },
  });
}
