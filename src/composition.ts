/**
 * The composition root: the one place where machines/ meets the outside
 * world. It receives one required, typed set of dependencies, gives every
 * machine each of its implementations (`xMachineWith(...)` in machines/: a
 * missing one does not compile), and makes the root actor. `main.ts` keeps
 * the configuration, the logger and the process's signals.
 *
 * To add an outside duty: name it in the machine's `XImplementations`, the
 * compiler then points here.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { tap } from 'rxjs';
import { createActor, type InspectionEvent } from 'xstate';
import { classifyInspection, containerMachineWith } from '../machines/container/machine.js';
import type { FolderRecord } from '../machines/events.js';
import { hostMachineWith, type HostInput, type StopReason } from '../machines/host/machine.js';
import { mountMachineWith } from '../machines/mount/machine.js';
import { serviceMachineWith } from '../machines/service/machine.js';
import { errorMessage } from '../machines/shared.js';
import { apiServerActor } from './api/actor.js';
import type { Config } from './config.js';
import type { Docker } from './docker/client.js';
import { dockerEvents$ } from './docker/events.js';
import { inspectContainer } from './docker/inspect.js';
import { InspectionsAhead } from './docker/inspectionsAhead.js';
import { runningContainerIds } from './docker/running.js';
import type { HostDuties } from './hostDuties.js';
import type { Logger } from './observability/logger.js';
import { reportError, type ErrorReporter } from './observability/reporter.js';
import { createStateClock, stateSnapshotOf, type StateSnapshot } from './observability/stateSnapshot.js';
import { CloudStorageMounts } from './resources/cloudStorage.js';
import { MappingFolders } from './resources/mappingFolders.js';

export interface ServiceDependencies {
  config: Config;
  logger: Logger;
  reporter: ErrorReporter;
  docker: Docker;
  /** Identity, engine, webserver handshake, ECS agent, heartbeats: src/hostDuties.ts. */
  duties: HostDuties;
  /** Sees every actor's inspection events: the inspector, when it is on; nothing otherwise. */
  inspect: ((event: InspectionEvent) => void) | undefined;
}

/** Sentry gets at most this long on the way out. */
export const SHUTDOWN_FLUSH_MS = 5000;

/** The engine gets this long at stop to say which containers run; without an answer, everything is kept. */
export const STOP_LIST_TIMEOUT_MS = 5000;

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

/** rclone's per-mount cache and log, under the root like every other path (root only). */
export function rcloneStateDir(config: Config): string {
  return path.join(config.root, 'var', 'lib', 'ecs-host-service', 'rclone');
}

/** Log lines and reports about one actor carry what identifies it. */
function voiceOf<Context>(
  { logger, reporter }: ServiceDependencies,
  about: (context: Context) => Record<string, string | number | undefined>,
) {
  return {
    reportError: (context: Context, message: string) =>
      reportError(logger, reporter, new Error(message), about(context)),
    logStep: (context: Context, message: string) => logger.info(about(context), message),
    logWarning: (context: Context, message: string) => logger.warn(about(context), message),
  };
}

/** The service actor, with every machine given its implementations; not started. */
export function composeService(deps: ServiceDependencies) {
  const { config, logger, reporter, docker, duties } = deps;
  // One of each, made here and nowhere else: the folders' writer and the mounts' registry.
  const folders = new MappingFolders(config.paths.mappings, (error) =>
    logger.warn({ err: error }, 'a container folder could not be made ahead; starts make their own'),
  );
  const mounts = new CloudStorageMounts({
    root: config.paths.cloudStorage,
    stateDir: rcloneStateDir(config),
    backends: config.cloudBackends,
    mountTimeoutMs: config.mountTimeoutMs,
    logger,
  });

  const mount = mountMachineWith({
    startMount: (target, credentials) => mounts.mount(target, credentials),
    watchMount: (target) => mounts.ended(target),
    stopMount: (target) => mounts.unmount(target),
    voice: voiceOf(deps, (c: { containerId: string; hostPort: number; provider: string }) => ({
      containerId: c.containerId,
      hostPort: c.hostPort,
      provider: c.provider,
    })),
  });

  // Fed by the event stream below, before the host sees each event (./docker/inspectionsAhead.ts).
  const inspections = new InspectionsAhead((containerId) =>
    inspectContainer(docker, containerId, config.engineTimeoutMs),
  );
  const container = containerMachineWith({
    mount,
    inspectContainer: async (containerId) => classifyInspection(await inspections.inspect(containerId)),
    writeStartFiles: (containerId, hostPort, tty) => folders.writeStartFiles(containerId, hostPort, tty),
    writeDpi: (containerId, dpi) => folders.writeDpi(containerId, dpi),
    // The container's mount actors have unmounted theirs before this: only the folder is left.
    cleanUpContainer: (containerId) => folders.remove(containerId),
    voice: voiceOf(deps, (c: { containerId: string; hostPort?: number; tty?: number }) => ({
      containerId: c.containerId,
      hostPort: c.hostPort,
      tty: c.tty,
    })),
  });

  const prepareHost = async (): Promise<{ folders: FolderRecord[] }> => {
    if (!config.allowNonRoot && process.getuid?.() !== 0) {
      throw new Error('the host service must run as root (set ALLOW_NON_ROOT=1 for development runs)');
    }
    await duties.boot();
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
    if (found.idle.length > 0) {
      logger.warn({ mounts: found.idle }, 'stopped rclone processes of an earlier run that served nothing');
    }
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
  };

  let stateSnapshot: () => StateSnapshot = () => {
    throw new Error('the state snapshot was asked for before the service actor existed');
  };
  const host = hostMachineWith({
    container,
    prepareHost,
    handshake: () => duties.handshake(),
    dockerEvents: () =>
      dockerEvents$(docker, {
        relistIntervalMs: config.relistIntervalMs,
        engineTimeoutMs: config.engineTimeoutMs,
      }).pipe(tap((event) => inspections.observe(event))),
    apiServer: apiServerActor({
      config,
      logger,
      reporter,
      knownProviders: mounts.providers,
      stateSnapshot: () => stateSnapshot(),
    }),
    startHeartbeats: (authToken) => {
      const stop = duties.startHeartbeats(authToken);
      const forced = forceFatalLater(config);
      return () => {
        stop();
        if (forced) clearTimeout(forced);
      };
    },
    listRunningContainers: async () => {
      const listedAtMs = Date.now();
      return { running: await runningContainerIds(docker, STOP_LIST_TIMEOUT_MS), listedAtMs };
    },
    startEcsAgent: () => duties.startEcsAgent(),
    voice: voiceOf(deps, () => ({})),
  });

  const machine = serviceMachineWith({
    host,
    notifyDeath: ({ stopReason }) => shutDown(deps, stopReason),
    voice: voiceOf(deps, () => ({})),
  });
  // Records when every actor entered its state, for the state snapshot's "time in state".
  const clock = createStateClock();
  // The root actor: the host and every container actor are its descendants. Only an inspector
  // inspects them: XState then builds an event for every step of every actor.
  const service = createActor(machine, {
    input: { host: hostInputFrom(config) },
    ...(deps.inspect === undefined ? {} : { inspect: deps.inspect }),
  });
  clock.watch(service);
  stateSnapshot = () => stateSnapshotOf(service, clock);
  return { service, stateSnapshot };
}

/** Development only (the configuration refuses it elsewhere): a real uncaught exception once serving, to exercise the fatal path. */
function forceFatalLater(config: Config): NodeJS.Timeout | undefined {
  if (config.debugFatalAfterMs === undefined || config.appEnv !== 'development') return undefined;
  return setTimeout(() => {
    throw new Error('forced fatal error (HOST_SERVICE_DEBUG_FATAL_AFTER_MS)');
  }, config.debugFatalAfterMs);
}

/**
 * The one shutdown path, in the contract's order: the private folder, Sentry,
 * the dying heartbeat. The host has already let go of the running containers
 * (their folders, TTYs and mounts stay) and drained the dead ones; the
 * mapping folder itself is never removed: the running containers bind-mount
 * it. Every step is attempted even when an earlier one fails.
 */
async function shutDown(deps: ServiceDependencies, stopReason: StopReason): Promise<void> {
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
  await step('sending the dying heartbeat', () => deps.duties.sendDyingHeartbeat());
  if (failures.length > 0) throw new Error(failures.join('; '));
}
