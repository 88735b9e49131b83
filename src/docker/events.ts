/**
 * `dockerEvents$`: the engine's container events as observations for the
 * host, with the guarantees the machines rely on:
 *
 * - reconnect with exponential backoff when the stream fails or ends;
 * - replay from the last seen event time (`since`) on reconnect;
 * - a re-list of running containers on every connect and periodically,
 *   because the engine keeps only its last 256 events for replay and a
 *   stream can miss events in ways nobody reports.
 *
 * A failed re-list also counts as losing the engine: the stream is torn down
 * and reopened, which catches a half-open connection that would otherwise
 * sit silent forever.
 */
import readline from 'node:readline';
import type { Readable } from 'node:stream';
import type Docker from 'dockerode';
import {
  Observable,
  Subject,
  catchError,
  concat,
  defer,
  exhaustMap,
  interval,
  map,
  merge,
  mergeMap,
  of,
  retry,
  startWith,
  switchMap,
  throwError,
  timer,
} from 'rxjs';
import type { DockerObservation } from '../../machines/events.js';
import { engineDeadline } from './client.js';

export interface DockerEventsOptions {
  relistIntervalMs: number;
  engineTimeoutMs: number;
  /** Backoff between reconnection attempts: base, doubled each failure, capped. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Replay start for the first connection (engine time, ns); defaults to now. */
  sinceNano?: bigint;
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
    stream.on('error', (error) => subscriber.error(error));
    lines.on('close', () => subscriber.error(new Error('the engine closed the event stream')));
    return () => {
      lines.close();
      stream.destroy();
    };
  });
}

export function parseEvent(line: string): DockerObservation | undefined {
  const raw = JSON.parse(line) as RawEvent;
  if (raw.Type !== undefined && raw.Type !== 'container') return undefined;
  const containerId = raw.Actor?.ID ?? raw.id;
  const action = raw.Action ?? raw.status;
  if (containerId === undefined || action === undefined) return undefined;
  const timeNano =
    raw.timeNano !== undefined
      ? BigInt(raw.timeNano).toString()
      : (BigInt(raw.time ?? 0) * 1_000_000_000n).toString();
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

export function dockerEvents$(docker: Docker, options: DockerEventsOptions): Observable<DockerObservation> {
  const backoffBaseMs = options.backoffBaseMs ?? 250;
  const backoffMaxMs = options.backoffMaxMs ?? 10_000;

  return defer(() => {
    // Per subscription: where replay resumes, and how many attempts have failed in a row.
    let lastSeenNano = options.sinceNano ?? BigInt(Date.now()) * 1_000_000n;
    let failuresInARow = 0;
    const relistFailed$ = new Subject<Error>();

    const relist$ = defer(async (): Promise<DockerObservation> => {
      const listedAtMs = Date.now();
      const containers = await docker.listContainers({
        filters: { status: ['running'] },
        ...engineDeadline(options.engineTimeoutMs),
      });
      return {
        type: 'docker.listed',
        listedAtMs,
        running: containers.map((c) => ({
          containerId: c.Id,
          name: (c.Names?.[0] ?? '').replace(/^\//, ''),
        })),
      };
    }).pipe(
      catchError((error: Error) => {
        relistFailed$.next(error);
        return of();
      }),
    );

    const connection$ = defer(async () => {
      // The deadline covers opening the stream only; an open stream may rightly stay quiet for hours.
      const opening = new AbortController();
      const deadline = setTimeout(() => opening.abort(), options.engineTimeoutMs);
      try {
        // The engine takes `since` with nanoseconds as a string; the typings only know whole seconds.
        const request: Omit<Docker.GetEventsOptions, 'since'> & { since: string; abortSignal: AbortSignal } =
          {
            since: sinceParameter(lastSeenNano),
            filters: { type: ['container'], event: ['start', 'die'] },
            abortSignal: opening.signal,
          };
        return (await docker.getEvents(request as unknown as Docker.GetEventsOptions)) as unknown as Readable;
      } finally {
        clearTimeout(deadline);
      }
    }).pipe(
      switchMap((stream) => {
        // The stream is open: anything from now on is in it, so a list taken now misses nothing.
        failuresInARow = 0;
        const events$ = eventLines$(stream).pipe(
          map(parseEvent),
          mergeMap((event) => {
            if (event === undefined) return of();
            if (event.type === 'docker.start' || event.type === 'docker.die') {
              const t = BigInt(event.timeNano);
              if (t > lastSeenNano) lastSeenNano = t;
            }
            return of(event);
          }),
        );
        const relists$ = interval(options.relistIntervalMs).pipe(
          startWith(-1),
          exhaustMap(() => relist$),
        );
        const lost$ = relistFailed$.pipe(
          mergeMap((error) => throwError(() => new Error(`re-list failed: ${error.message}`))),
        );
        return merge(of<DockerObservation>({ type: 'docker.connected' }), events$, relists$, lost$);
      }),
      catchError((error: Error) =>
        concat(
          of<DockerObservation>({ type: 'docker.disconnected', reason: error.message }),
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

    return connection$;
  });
}
