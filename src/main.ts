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
import { createLogger } from './observability/logger.js';
import { noReporter } from './observability/reporter.js';
import { hostInputFrom, provideServiceMachine } from './orchestrator.js';

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

function main(): void {
  const config = readConfig();
  const logger = createLogger({ level: config.logLevel, pretty: config.logFormat === 'pretty' });
  logger.info(
    { commit: gitCommit, appEnv: config.appEnv, root: config.root, dockerHost: describeDockerHost() },
    'host service starting',
  );

  const machine = provideServiceMachine({
    config,
    logger,
    docker: createDockerClient(),
    reporter: noReporter,
  });
  const service = createActor(machine, { input: { host: hostInputFrom(config) } });

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
    logger.error({ err: error }, 'uncaught exception');
    stop(`uncaught exception: ${error.message}`, true);
  });
  process.on('unhandledRejection', (reason) => {
    logger.error({ err: reason }, 'unhandled rejection');
    stop(`unhandled rejection: ${String(reason)}`, true);
  });

  service.start();
}

main();
