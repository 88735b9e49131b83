/**
 * Structured logs: JSON lines on stdout for journald, pretty only in
 * development (in-process and synchronous, so nothing is lost at exit).
 * Either way a record is one line; only an error's stack adds more.
 * The pretty printer is loaded only when asked for: a host logs JSON and
 * would keep it in memory for nothing.
 */
import pino, { type Logger } from 'pino';

/** Anything that could carry a credential, wherever it sits in a log object. */
export const REDACTED_PATHS = [
  'auth_secret',
  '*.auth_secret',
  'authSecret',
  '*.authSecret',
  'AuthToken',
  '*.AuthToken',
  'authToken',
  '*.authToken',
  'access_token',
  '*.access_token',
  'refresh_token',
  '*.refresh_token',
  'client_secret',
  '*.client_secret',
  'credentials',
  '*.credentials',
  'accessToken',
  '*.accessToken',
  'refreshToken',
  '*.refreshToken',
  'clientSecret',
  '*.clientSecret',
  'token',
  '*.token',
  'bearer_token',
  '*.bearer_token',
  // A child process's environment carries rclone's remote configuration.
  'env',
  '*.env',
  'headers.authorization',
  '*.headers.authorization',
];

export async function createLogger(options: {
  level: string;
  pretty: boolean;
  /** Where JSON lines go; stdout by default. */
  destination?: pino.DestinationStream;
}): Promise<Logger> {
  const base = { level: options.level, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } };
  if (!options.pretty) return pino(base, options.destination ?? pino.destination({ sync: true }));
  const { default: pretty } = await import('pino-pretty');
  return pino(
    base,
    pretty({
      sync: true,
      colorize: process.stdout.isTTY,
      translateTime: 'SYS:HH:MM:ss.l',
      // One record, one line, as in JSON: a heartbeat or a state snapshot must not scroll the terminal.
      singleLine: true,
    }),
  );
}

export type { Logger };
