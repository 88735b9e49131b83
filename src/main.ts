/**
 * The process: configuration, then the service actor, then exit with the
 * code the service machine decides. Signals and crashes all become one
 * `service.stop` event, so every way out goes through the same shutdown path.
 */
// Must stay the first import: it sizes libuv's pool before the pool starts.
import './threadpool.js';
import { createActor } from 'xstate';
import { gitCommit } from './buildInfo.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { createDockerClient, describeDockerHost } from './docker/client.js';
import { HostDuties } from './hostDuties.js';
import type { InstanceMetadata } from './metadata/instanceMetadata.js';
import { createLogger, type Logger } from './observability/logger.js';
import { noReporter, reportError, type ErrorReporter } from './observability/reporter.js';
import { createStateClock, stateSnapshotOf } from './observability/stateSnapshot.js';
import { hostInputFrom, provideServiceMachine } from './orchestrator.js';
import { askedForVersion, versionText } from './version.js';

const EXIT_CONFIG = 2;

function readConfig(): Config {
  try {
    return loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`ecs-host-service: configuration error: ${error.message}\n`);
      process.exit(EXIT_CONFIG);
    }
    throw error;
  }
}

/** The inspector is loaded only when asked for, so a normal host pays nothing for it. */
async function inspectorFor(config: Config, logger: Logger) {
  if (config.inspectorPort === undefined) return undefined;
  const { startInspector } = await import('./observability/inspector.js');
  const inspector = await startInspector({ port: config.inspectorPort });
  const log = config.appEnv === 'production' ? logger.warn.bind(logger) : logger.info.bind(logger);
  log({ inspectorPort: inspector.port }, 'inspector listening on 127.0.0.1');
  return inspector;
}

/** Sentry is loaded only when on (about 20 MB of resident memory otherwise spent for nothing). */
async function createReporter(
  config: Config,
  logger: Logger,
): Promise<{ reporter: ErrorReporter; tagHost: (m: InstanceMetadata) => void }> {
  if (!config.sentryEnabled) return { reporter: noReporter, tagHost: () => {} };
  const { createSentryReporter } = await import('./observability/sentry.js');
  const sentry = createSentryReporter({
    dsn: config.sentryDsn,
    release: gitCommit,
    environment: config.appEnv,
  });
  logger.info({ release: gitCommit, environment: config.appEnv }, 'Sentry is on');
  return { reporter: sentry, tagHost: (metadata) => sentry.tagHost(metadata) };
}

async function main(): Promise<void> {
  if (askedForVersion()) {
    process.stdout.write(versionText());
    return;
  }
  const config = readConfig();
  const logger = await createLogger({ level: config.logLevel, pretty: config.logFormat === 'pretty' });
  logger.info(
    { commit: gitCommit, appEnv: config.appEnv, root: config.root, dockerHost: describeDockerHost() },
    'host service starting',
  );
  const { reporter, tagHost } = await createReporter(config, logger);
  const docker = createDockerClient();
  const duties = new HostDuties({ config, logger, docker, onIdentity: tagHost });

  const snapshotSource: { take?: () => unknown } = {};
  const machine = provideServiceMachine({
    config,
    logger,
    docker,
    reporter,
    boot: () => duties.boot(),
    handshake: () => duties.handshake(),
    startEcsAgent: () => duties.startEcsAgent(),
    startHeartbeats: (authToken) => {
      const stop = duties.startHeartbeats(authToken);
      const forced = forceFatalLater(config);
      return () => {
        stop();
        if (forced) clearTimeout(forced);
      };
    },
    sendDyingHeartbeat: () => duties.sendDyingHeartbeat(),
    // Bound below, once the service actor exists.
    stateSnapshot: () => snapshotSource.take?.(),
  });
  const inspector = await inspectorFor(config, logger);
  // Records when every actor entered its state, for the state snapshot's "time in state".
  const clock = createStateClock();
  // The root actor: the host and every container actor are its descendants, so all of them are inspected.
  const service = createActor(machine, {
    input: { host: hostInputFrom(config) },
    inspect: (event) => {
      clock.inspect.next?.(event);
      inspector?.inspect.next?.(event);
    },
  });
  snapshotSource.take = () => stateSnapshotOf(service, clock);
  // `kill -USR2 <pid>` logs every actor's state: the snapshot without going through the API.
  process.on('SIGUSR2', () =>
    logger.info({ stateSnapshot: stateSnapshotOf(service, clock) }, 'state snapshot'),
  );

  service.subscribe({
    complete: () => {
      const { exitCode, stopReason } = service.getSnapshot().output!;
      logger.info({ exitCode, reason: stopReason.message }, 'host service exited');
      process.exit(exitCode);
    },
    error: (error) => {
      logger.fatal({ err: error }, 'the service machine failed');
      process.exit(1);
    },
  });

  const stop = (message: string, fatal: boolean) =>
    service.send({ type: 'service.stop', reason: { fatal, message } });
  process.on('SIGINT', () => stop('SIGINT', false));
  process.on('SIGTERM', () => stop('SIGTERM', false));
  process.on('uncaughtException', (error) => {
    reportError(logger, reporter, error, { origin: 'uncaught exception' });
    stop(`uncaught exception: ${error.message}`, true);
  });
  process.on('unhandledRejection', (reason) => {
    const error = reason instanceof Error ? reason : new Error(String(reason));
    reportError(logger, reporter, error, { origin: 'unhandled rejection' });
    stop(`unhandled rejection: ${error.message}`, true);
  });

  // Benchmarks run the service with --expose-gc and ask for a collection before reading its memory.
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) {
    process.on('SIGUSR2', () => {
      gc();
      const { rss, heapUsed } = process.memoryUsage();
      logger.info({ rssMb: rss / 2 ** 20, heapUsedMb: heapUsed / 2 ** 20 }, 'memory after gc');
    });
  }

  service.start();
}

/** Development only (the configuration refuses it elsewhere): a real uncaught exception once serving, to exercise the fatal path. */
function forceFatalLater(config: Config): NodeJS.Timeout | undefined {
  if (config.debugFatalAfterMs === undefined || config.appEnv !== 'development') return undefined;
  return setTimeout(() => {
    throw new Error('forced fatal error (HOST_SERVICE_DEBUG_FATAL_AFTER_MS)');
  }, config.debugFatalAfterMs);
}

main().catch((error: unknown) => {
  process.stderr.write(
    `ecs-host-service: could not start: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(1);
});
