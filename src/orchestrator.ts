/**
 * Gives the pure machines their implementations: the one place where
 * machines/ meets dockerode, the file system, the logger and the reporter.
 */
import fs from 'node:fs/promises';
import { fromCallback, fromEventObservable, fromPromise } from 'xstate';
import { containerMachine } from '../machines/container.js';
import { hostMachine, type HostInput } from '../machines/host.js';
import { serviceMachine } from '../machines/service.js';
import type { StopReason } from '../machines/host.js';
import type { Config } from './config.js';
import type { Docker } from './docker/client.js';
import { dockerEvents$ } from './docker/events.js';
import { inspectContainer } from './docker/inspect.js';
import type { Logger } from './observability/logger.js';
import { reportError, type ErrorReporter } from './observability/reporter.js';
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

export function provideContainerMachine(deps: OrchestratorDeps, folders: MappingFolders) {
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
      inspectContainer: fromPromise(({ input }) =>
        inspectContainer(docker, input.containerId, config.engineTimeoutMs),
      ),
      writeStartFiles: fromPromise(({ input }) =>
        folders.writeStartFiles(input.containerId, input.hostPort, input.tty),
      ),
      writeStartValues: fromPromise(({ input }) => folders.writeStartValues(input.containerId, input.dpi)),
      cleanUpContainer: fromPromise(({ input }) => folders.remove(input.containerId)),
    },
    actions: {
      reportError: ({ context }, params) =>
        reportError(logger, reporter, new Error(params.message), about(context)),
      logStep: ({ context }, params) => logger.info(about(context), params.message),
    },
  });
}

export function provideHostMachine(deps: OrchestratorDeps) {
  const { logger, docker, config, reporter } = deps;
  const folders = new MappingFolders(config.paths.mappings);
  return hostMachine.provide({
    actors: {
      container: provideContainerMachine(deps, folders),
      prepareHost: fromPromise(async () => {
        if (!config.allowNonRoot && process.getuid?.() !== 0) {
          throw new Error('the host service must run as root (set ALLOW_NON_ROOT=1 for development runs)');
        }
        await folders.ensureRoot();
        await fs.mkdir(config.paths.private, { recursive: true, mode: 0o700 });
        await fs.mkdir(config.paths.cloudStorage, { recursive: true, mode: 0o755 });
        // Folders an earlier run left: the host reserves what they hold and adopts or cleans them up.
        const records = await folders.readAll();
        if (records.length > 0) logger.info({ folders: records.length }, 'found folders of an earlier run');
        return { folders: records };
      }),
      handshake: fromPromise(() => (deps.handshake ?? (async () => ({ authToken: 'development' })))()),
      dockerEvents: fromEventObservable(() =>
        dockerEvents$(docker, {
          relistIntervalMs: config.relistIntervalMs,
          engineTimeoutMs: config.engineTimeoutMs,
        }),
      ),
      apiServer: fromCallback(() => {}),
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
  return serviceMachine.provide({
    actors: {
      host: provideHostMachine(deps),
      notifyDeath: fromPromise(async ({ input }) => {
        if (deps.notifyDeath) await deps.notifyDeath(input);
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
