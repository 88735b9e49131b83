import type { Logger } from './logger.js';

/** Where errors go besides the log: Sentry when it is on (see the Sentry module), nowhere otherwise. */
export interface ErrorReporter {
  report(error: Error, context: Record<string, string | number | undefined>): void;
  /** Sends what is queued; resolves false when the deadline passed first. */
  flush(timeoutMs: number): Promise<boolean>;
}

export const noReporter: ErrorReporter = {
  report: () => {},
  flush: async () => true,
};

/** Logs the error and passes it to the reporter: the one way errors leave a component. */
export function reportError(
  logger: Logger,
  reporter: ErrorReporter,
  error: Error,
  context: Record<string, string | number | undefined> = {},
): void {
  logger.error({ ...context, err: error }, error.message);
  reporter.report(error, context);
}
