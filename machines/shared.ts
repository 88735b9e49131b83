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
