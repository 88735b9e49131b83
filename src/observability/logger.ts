/**
 * Structured logs: JSON lines on stdout for journald, pretty only in
 * development (in-process and synchronous, so nothing is lost at exit).
 * Either way a record is one line; only an error's stack adds more.
 * The pretty printer is loaded only when asked for: a host logs JSON and
 * would keep it in memory for nothing.
 */
import pino, { type Logger } from 'pino';
import { withoutSecrets } from './secrets.js';

export async function createLogger(options: {
  level: string;
  pretty: boolean;
  /** Where JSON lines go; stdout by default. */
  destination?: pino.DestinationStream;
}): Promise<Logger> {
  // Not pino's `redact`: its wildcard paths cost about 25 µs a line (six times the line itself),
  // and a path list can only guess where a credential sits; the key rule finds it anywhere.
  const base = {
    level: options.level,
    formatters: { log: withoutSecrets, bindings: withoutSecrets },
  };
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
