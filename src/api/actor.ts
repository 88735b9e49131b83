/**
 * The host's `apiServer` actor: makes the TLS identity, runs the HTTPS server
 * for as long as the host serves, turns each call into an `api.request` for
 * the host and each `api.reply` into the HTTP answer (the actor that answers,
 * a container or a mount, sends it here by the system id). When the
 * host stops serving, the server answers what is still open and closes.
 */
import os from 'node:os';
import { fromCallback, type EventObject } from 'xstate';
import type { ApiReply } from '../../machines/events.js';
import type { Config } from '../config.js';
import type { Logger } from '../observability/logger.js';
import { reportError, type ErrorReporter } from '../observability/reporter.js';
import { createSelfSignedIdentity, writeIdentity } from './certificate.js';
import { startApiServer, type ApiServer } from './server.js';
import { errorMessage } from '../../machines/shared.js';

export interface ApiActorDeps {
  config: Config;
  logger: Logger;
  reporter: ErrorReporter;
  knownProviders: ReadonlySet<string>;
  stateSnapshot?: () => unknown;
}

export function apiServerActor({ config, logger, reporter, knownProviders, stateSnapshot }: ApiActorDeps) {
  return fromCallback<ApiReply & EventObject, void>(({ sendBack, receive }) => {
    let server: ApiServer | undefined;
    let stopped = false;
    receive((reply) =>
      server?.answer(
        reply.requestId,
        reply.status === 200 ? { status: 200, result: reply.result } : { status: 406, error: reply.error },
      ),
    );
    const start = async () => {
      const identity = await createSelfSignedIdentity(os.hostname());
      await writeIdentity(config.paths.private, identity);
      const started = await startApiServer({
        port: config.apiPort,
        identity,
        authSecret: config.authSecret,
        replyTimeoutMs: config.apiReplyTimeoutMs,
        knownProviders,
        logger,
        stateSnapshot,
      });
      if (stopped) return started.close('the host service is shutting down');
      server = started;
      started.calls$.subscribe(({ requestId, request }) =>
        sendBack({ type: 'api.request', requestId, request }),
      );
      if (config.authSecret === '') {
        logger.warn('no auth_secret is configured (WEBSERVER_AUTH_SECRET): every API request is refused');
      }
      logger.info({ port: started.port }, 'HTTPS API listening');
    };
    start().catch((error: unknown) => {
      // Stopped while starting: the shutdown path removed the private folder under the identity write.
      if (stopped) {
        logger.info({ reason: String(error) }, 'the HTTPS API stopped before it started');
        return;
      }
      // The common case on a host or a laptop: another service (often a second one of ours) holds the port.
      const inUse = (error as NodeJS.ErrnoException).code === 'EADDRINUSE';
      const hint = inUse
        ? ` (port ${config.apiPort} is taken: is another host service running? HOST_SERVICE_PORT picks another)`
        : '';
      const message = `the HTTPS API could not start: ${errorMessage(error)}${hint}`;
      reportError(logger, reporter, new Error(message));
      sendBack({ type: 'host.stop', reason: { fatal: true, message } });
    });
    return () => {
      stopped = true;
      void server?.close('the host service is shutting down');
    };
  });
}
