/**
 * The process: configuration, then the service actor, then exit with the
 * code the service machine decides. Signals and crashes all become one
 * `service.stop` event, so every way out goes through the same shutdown path.
 */
// Must stay the first import: V8's settings, before any of the service's code can become hot.
import './v8Flags.js';
// Then the process goes by its own name from its first moments.
import './processName.js';
import { codeCache, gitCommit } from './buildInfo.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { createDockerClient, describeDockerHost } from './docker/client.js';
import { HostDuties } from './hostDuties.js';
import type { InstanceMetadata } from './metadata/instanceMetadata.js';
import { createLogger, type Logger } from './observability/logger.js';
import { noReporter, reportError, type ErrorReporter } from './observability/reporter.js';
import { composeService } from './composition.js';
import { askedForVersion, versionText } from './version.js';
import { errorMessage } from '../machines/shared.js';

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
    {
      commit: gitCommit,
      appEnv: config.appEnv,
      root: config.root,
      dockerHost: describeDockerHost(),
      codeCache,
    },
    'host service starting',
  );
  const { reporter, tagHost } = await createReporter(config, logger);
  const docker = createDockerClient();
  const duties = new HostDuties({ config, logger, docker, onIdentity: tagHost });

  const inspector = await inspectorFor(config, logger);
  const { service, stateSnapshot } = composeService({
    config,
    logger,
    reporter,
    docker,
    duties,
    inspect: inspector === undefined ? undefined : (event) => inspector.inspect.next?.(event),
  });
  // `kill -USR2 <pid>` logs every actor's state: the snapshot without going through the API.
  process.on('SIGUSR2', () => logger.info({ stateSnapshot: stateSnapshot() }, 'state snapshot'));

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

main().catch((error: unknown) => {
  process.stderr.write(`ecs-host-service: could not start: ${errorMessage(error)}\n`);
  process.exit(1);
});
