/** Small pieces every machine uses, so that each is written once. */
import type { AnyActorRef } from 'xstate';
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

/** The system id of the host's API server actor: whoever answers a request sends the answer there. */
export const API_SERVER_SYSTEM_ID = 'apiServer';

/**
 * Sends an answer straight to the API server's actor, not up through the host
 * (one step less per request for every actor on the way). Once the server has
 * stopped, it has answered its open requests itself, and the answer is
 * dropped. Inside `enqueueActions`: XState's `sendTo` with a target that is not
 * there would send the event to the sender instead.
 */
export function enqueueApiReply(
  enqueue: { sendTo: (actor: AnyActorRef, event: ApiReplyEvent) => void },
  system: { get(systemId: string): unknown },
  reply: ApiReply,
): void {
  const api = system.get(API_SERVER_SYSTEM_ID) as AnyActorRef | undefined;
  if (api !== undefined) enqueue.sendTo(api, { type: 'api.reply', ...reply });
}

/**
 * How a machine speaks: errors that need a person (logged and reported),
 * steps (info) and warnings, each about the actor whose context is given.
 */
export interface MachineVoice<Context> {
  reportError(context: Context, message: string): void;
  logStep(context: Context, message: string): void;
  logWarning(context: Context, message: string): void;
}

/*
 * The host's bookkeeping keyed by container ids, ports and request ids is kept
 * in Maps, never in plain objects: an object that gains and loses keys that
 * are each new made V8 build a hidden class per key and then fall back to a
 * dictionary, and every copy of it cost about ten times a Map's (profile of
 * `BENCH=machines`: about a third of a container lifecycle). The Maps are copied on
 * write, so a snapshot never changes under whoever holds it.
 */

/** `map` with `key` set to `value`; `map` itself is left as it was. */
export function withEntry<K, V>(map: ReadonlyMap<K, V>, key: K, value: V): ReadonlyMap<K, V> {
  return new Map(map).set(key, value);
}

/** `map` without `key` (the same map when it has none); `map` itself is left as it was. */
export function withoutKey<K, V>(map: ReadonlyMap<K, V>, key: K): ReadonlyMap<K, V> {
  if (!map.has(key)) return map;
  const copy = new Map(map);
  copy.delete(key);
  return copy;
}
