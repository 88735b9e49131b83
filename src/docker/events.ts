/**
 * `dockerEvents$`: the engine's container events as observations for the
 * host, with the guarantees the machines rely on:
 *
 * - reconnect with exponential backoff when the stream fails or ends;
 * - replay from the last seen event time (`since`) on reconnect;
 * - on every connect, in this order: open the stream, list the running
 *   containers, then hand over what the stream delivered meanwhile. The list
 *   is taken with the stream already open, so it misses nothing, and the host
 *   reconciles with it (freeing what died while we were away) before it sees
 *   any newer start;
 * - a re-list every `relistIntervalMs` as well, because the engine keeps only
 *   its last 256 events for replay (none across its own restart) and a stream
 *   can miss events in ways nobody reports.
 *
 * A failed list also counts as losing the engine: the stream is torn down and
 * reopened, which catches a half-open connection that would otherwise sit
 * silent forever.
 *
 * The engine is reached through `EngineSource`, so the timing logic can be
 * tested with virtual time over a fake; `engineSourceOf(docker)` is the real
 * one and `dockerEvents$(docker, ...)` uses it.
 */
import readline from 'node:readline';
import type { Readable } from 'node:stream';
import type Docker from 'dockerode';
import {
  Observable,
  Subscription,
  catchError,
  concat,
  defer,
  exhaustMap,
  interval,
  map,
  of,
  retry,
  throwError,
  timeout,
  timer,
} from 'rxjs';
import type { DockerObservation } from '../../machines/events.js';
import { errorMessage } from '../../machines/shared.js';
import { getJsonFromEngine } from './client.js';

export interface DockerEventsOptions {
  relistIntervalMs: number;
  engineTimeoutMs: number;
  /** Backoff between reconnection attempts: base, doubled each failure, capped. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Replay start for the first connection (engine time, ns); defaults to now. */
  sinceNano?: bigint;
  /** The host's clock in ms (tests give a virtual one); defaults to Date.now. */
  now?: () => number;
}

export interface RunningContainer {
  containerId: string;
  /** Docker's name without the leading slash. */
  name: string;
}

/** What the engine's event stream delivers: first `opened` (the engine answered), then one item per line. */
export type EngineStreamItem = { type: 'opened' } | { type: 'line'; line: string };

/** The engine as `dockerEvents$` uses it. Every call is cold: subscribing makes the call, unsubscribing abandons it. */
export interface EngineSource {
  /** The container events from `sinceNano` (engine time) on; errors when the stream fails or ends. */
  events(sinceNano: bigint): Observable<EngineStreamItem>;
  /** The running containers: one value, then complete. */
  listRunning(): Observable<RunningContainer[]>;
}

interface RawEvent {
  Type?: string;
  Action?: string;
  status?: string;
  id?: string;
  timeNano?: number | string;
  time?: number;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
}

/** Splits the stream on newlines: a chunk may hold several events or half of one. */
export function eventLines$(stream: Readable): Observable<string> {
  return new Observable<string>((subscriber) => {
    const lines = readline.createInterface({ input: stream, crlfDelay: Infinity });
    lines.on('line', (line) => {
      if (line.trim() !== '') subscriber.next(line);
    });
    // readline re-emits its input's errors on itself: unheard there, an engine
    // going away mid-stream (`aborted`) was an uncaught exception.
    lines.on('error', (error) => subscriber.error(error));
    stream.on('error', (error) => subscriber.error(error));
    lines.on('close', () => subscriber.error(new Error('the engine closed the event stream')));
    return () => {
      lines.close();
      stream.destroy();
    };
  });
}

/** `timeNano` as the engine writes it: a bare JSON number, after the actor's attributes (all strings). */
const TIME_NANO_KEY = '"timeNano":';
const DIGITS_TO_FIELD_END = /(\d+)[,}]/y;

/**
 * The event's time in ns, exactly. The engine writes it as a JSON number
 * above 2^53, which `JSON.parse` rounds to a multiple of 256 ns: a replay
 * from a rounded-up time (`since`) could pass over an event in those last
 * nanoseconds. The digits are read from the line itself; the last key is
 * the event's own field, and it must agree with the parsed number.
 */
function exactTimeNano(line: string, raw: RawEvent): string {
  if (raw.timeNano === undefined) return (BigInt(raw.time ?? 0) * 1_000_000_000n).toString();
  if (typeof raw.timeNano === 'number') {
    // The last key is the event's own (without `matchAll`'s iterator and array of every match).
    const at = line.lastIndexOf(TIME_NANO_KEY);
    DIGITS_TO_FIELD_END.lastIndex = at + TIME_NANO_KEY.length;
    const digits = at < 0 ? undefined : DIGITS_TO_FIELD_END.exec(line)?.[1];
    if (digits !== undefined && Number(digits) === raw.timeNano) return digits;
  }
  return BigInt(raw.timeNano).toString();
}

export function parseEvent(line: string): DockerObservation | undefined {
  const raw = JSON.parse(line) as RawEvent;
  if (raw.Type !== undefined && raw.Type !== 'container') return undefined;
  const containerId = raw.Actor?.ID ?? raw.id;
  const action = raw.Action ?? raw.status;
  if (containerId === undefined || action === undefined) return undefined;
  const timeNano = exactTimeNano(line, raw);
  if (action === 'start') {
    return { type: 'docker.start', containerId, name: raw.Actor?.Attributes?.['name'] ?? '', timeNano };
  }
  if (action === 'die') return { type: 'docker.die', containerId, timeNano };
  return undefined;
}

/** `since` in the engine's format: seconds with a nanosecond fraction. */
export function sinceParameter(timeNano: bigint): string {
  const seconds = timeNano / 1_000_000_000n;
  const nanos = timeNano % 1_000_000_000n;
  return `${seconds}.${nanos.toString().padStart(9, '0')}`;
}

const RUNNING_ONLY = { status: ['running'] };
/** The engine's list of running containers, as dockerode asks for it (`filters` is JSON in the query). */
const RUNNING_CONTAINERS_PATH = `/containers/json?filters=${encodeURIComponent(JSON.stringify(RUNNING_ONLY))}`;

/**
 * The real engine, through dockerode. The list, made every `relistIntervalMs`
 * with every container in its answer, takes the inspection's kept bare
 * connections (./client.ts, `getJsonFromEngine`) where the engine is on a
 * unix socket: through docker-modem and Node's HTTP client it was most of a
 * re-list's CPU, and re-lists were most of an idle host's (bench/MEASUREMENTS.md,
 * "What an idle host spends").
 */
export function engineSourceOf(docker: Docker): EngineSource {
  return {
    events: (sinceNano) =>
      new Observable<EngineStreamItem>((subscriber) => {
        // Aborts the opening only: once open, closing the stream ends the call.
        const opening = new AbortController();
        let lines: Subscription | undefined;
        let unsubscribed = false;
        // The engine takes `since` with nanoseconds as a string; the typings only know whole seconds.
        const request: Omit<Docker.GetEventsOptions, 'since'> & { since: string; abortSignal: AbortSignal } =
          {
            since: sinceParameter(sinceNano),
            filters: { type: ['container'], event: ['start', 'die'] },
            abortSignal: opening.signal,
          };
        (
          docker.getEvents(request as unknown as Docker.GetEventsOptions) as unknown as Promise<Readable>
        ).then(
          (stream) => {
            if (unsubscribed) {
              stream.destroy();
              return;
            }
            subscriber.next({ type: 'opened' });
            lines = eventLines$(stream).subscribe({
              next: (line) => subscriber.next({ type: 'line', line }),
              error: (error: unknown) => subscriber.error(error),
            });
          },
          (error: unknown) => subscriber.error(error),
        );
        return () => {
          unsubscribed = true;
          if (lines === undefined) opening.abort();
          else lines.unsubscribe();
        };
      }),
    listRunning: () =>
      new Observable<RunningContainer[]>((subscriber) => {
        const call = new AbortController();
        let settled = false;
        const listing =
          getJsonFromEngine<Docker.ContainerInfo[]>(docker, RUNNING_CONTAINERS_PATH, call.signal) ??
          docker.listContainers({ filters: RUNNING_ONLY, abortSignal: call.signal });
        listing.then(
          (containers) => {
            settled = true;
            subscriber.next(
              containers.map((c) => ({ containerId: c.Id, name: (c.Names?.[0] ?? '').replace(/^\//, '') })),
            );
            subscriber.complete();
          },
          (error: unknown) => {
            settled = true;
            subscriber.error(error);
          },
        );
        return () => {
          if (!settled) call.abort();
        };
      }),
  };
}

export function dockerEvents$(docker: Docker, options: DockerEventsOptions): Observable<DockerObservation> {
  return engineEvents$(engineSourceOf(docker), options);
}

export function engineEvents$(
  source: EngineSource,
  options: DockerEventsOptions,
): Observable<DockerObservation> {
  const backoffBaseMs = options.backoffBaseMs ?? 250;
  const backoffMaxMs = options.backoffMaxMs ?? 10_000;
  const now = options.now ?? Date.now;
  const withinDeadline = <T>(what: string) =>
    timeout<T, Observable<never>>({
      first: options.engineTimeoutMs,
      with: () => throwError(() => new Error(`${what} took longer than ${options.engineTimeoutMs} ms`)),
    });

  return defer(() => {
    // Per subscription: where replay resumes, and how many attempts have failed in a row.
    let lastSeenNano = options.sinceNano ?? BigInt(now()) * 1_000_000n;
    let failuresInARow = 0;

    const list$ = defer(() => {
      const listedAtMs = now();
      return source.listRunning().pipe(
        withinDeadline<RunningContainer[]>('listing the running containers'),
        map((running): DockerObservation => ({ type: 'docker.listed', listedAtMs, running })),
        catchError((error: unknown) => throwError(() => new Error(`re-list failed: ${errorMessage(error)}`))),
      );
    });

    // One connection: open, list, then what the stream delivered meanwhile, then everything live.
    const connection$ = new Observable<DockerObservation>((subscriber) => {
      const subscriptions = new Subscription();
      /** Events that arrived before the first list answered; undefined once they are handed over. */
      let meanwhile: DockerObservation[] | undefined = [];
      const deliver = (event: DockerObservation) => {
        if (event.type === 'docker.start' || event.type === 'docker.die') {
          const t = BigInt(event.timeNano);
          if (t > lastSeenNano) lastSeenNano = t;
        }
        subscriber.next(event);
      };
      const lost = (error: unknown) => subscriber.error(error);
      const reconcile = () =>
        list$.subscribe({
          next: (listed) => {
            failuresInARow = 0;
            subscriber.next({ type: 'docker.connected' });
            subscriber.next(listed);
            const held = meanwhile ?? [];
            meanwhile = undefined;
            for (const event of held) deliver(event);
            subscriptions.add(
              interval(options.relistIntervalMs)
                .pipe(exhaustMap(() => list$))
                .subscribe({ next: (relisted) => subscriber.next(relisted), error: lost }),
            );
          },
          error: lost,
        });
      subscriptions.add(
        source
          .events(lastSeenNano)
          .pipe(withinDeadline<EngineStreamItem>('opening the event stream'))
          .subscribe({
            next: (item) => {
              if (item.type === 'opened') {
                // The stream is open: anything from now on is in it, so a list taken now misses nothing.
                subscriptions.add(reconcile());
                return;
              }
              let event: DockerObservation | undefined;
              try {
                event = parseEvent(item.line);
              } catch (error) {
                lost(new Error(`unreadable event from the engine: ${errorMessage(error)}`));
                return;
              }
              if (event === undefined) return;
              if (meanwhile !== undefined) meanwhile.push(event);
              else deliver(event);
            },
            error: lost,
            complete: () => lost(new Error('the engine closed the event stream')),
          }),
      );
      return subscriptions;
    });

    return connection$.pipe(
      catchError((error: unknown) =>
        concat(
          of<DockerObservation>({ type: 'docker.disconnected', reason: errorMessage(error) }),
          throwError(() => error),
        ),
      ),
      retry({
        delay: () => {
          failuresInARow += 1;
          return timer(Math.min(backoffMaxMs, backoffBaseMs * 2 ** (failuresInARow - 1)));
        },
      }),
    );
  });
}
