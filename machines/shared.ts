/** Small pieces every machine uses, so that each is written once. */
import type { ApiReply } from './events.js';

/** The placeholder of an implementation that src/ supplies with `machine.provide(...)`. */
export const notProvided = (what: string) => (): never => {
  throw new Error(`${what} is not provided`);
};

/** An error's message, whatever was thrown. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** An answer to one webserver request, as it travels between actors. */
export type ApiReplyEvent = ApiReply & { type: 'api.reply' };

/**
 * How a machine speaks: errors that need a person (logged and reported),
 * steps (info) and warnings, each about the actor whose context is given.
 */
export interface MachineVoice<Context> {
  reportError(context: Context, message: string): void;
  logStep(context: Context, message: string): void;
  logWarning(context: Context, message: string): void;
}
