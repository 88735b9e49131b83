/**
 * GETs of the engine's API on its unix socket, written on a bare socket and
 * read with http-parser-js, for the two calls made over and over: the
 * inspection, on every container's start path, and the re-list (every
 * `relistIntervalMs`, src/docker/events.ts). Node's HTTP client (a request
 * object, an agent, streams for the answer) cost 0.94-1.10 ms of CPU and
 * 1.47-1.61 ms of wall time per inspection at a host's pace (one every 20 ms,
 * after 20 of warm-up), and this 0.40-0.51 ms and 0.92-1.04 ms (bench/MEASUREMENTS.md,
 * "Folders made ahead, and the inspection on a bare socket"). Every other call goes through dockerode.
 *
 * Connections are kept alive and reused one call at a time, at most
 * MAX_IDLE_CONNECTIONS of them idle, unreferenced so that they never keep
 * the process alive. A kept connection the engine has closed meanwhile (a
 * restart closes them all) fails the call before any answer: the call is
 * made once more on a new connection. A GET changes nothing, so that is safe.
 */
import net from 'node:net';
import { HTTPParser } from 'http-parser-js';
import { engineGaveNoAnswer } from './errors.js';

export const MAX_IDLE_CONNECTIONS = 4;

/** A failed answer reads as dockerode's do: `statusCode` set, so `isNotFoundError` holds for both. */
export class EngineAnswerError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(`(HTTP code ${statusCode}) ${message}`);
  }
}

interface Answer {
  statusCode: number;
  body: Buffer;
}

/** What ends a call: a signal, or a deadline (`endsAtMs` on `performance.now()`'s clock). */
type CallEnd = AbortSignal | { timeoutMs: number; endsAtMs: number };

/** A call on a kept connection that failed before any byte came back: it may be made on a new one. */
class NoAnswerOnKeptConnection extends Error {}

export class EngineConnections {
  private readonly idle: net.Socket[] = [];

  constructor(
    private readonly socketPath: string,
    private readonly maxIdle = MAX_IDLE_CONNECTIONS,
  ) {}

  /**
   * GET `path`: its JSON on a 2xx answer, an EngineAnswerError otherwise.
   * `until` ends the call: a deadline in ms from now, or a signal. The
   * deadline is a plain timer: on every container's start path, an
   * `AbortController`, its listener and a timer made 3.1 kB and cost
   * 14-22 µs of baseline code, a timer alone 0.6 kB and 2 µs
   * (bench/MEASUREMENTS.md, "The inspection's deadline, a plain timer").
   */
  async getJson<T>(path: string, until: AbortSignal | number): Promise<T> {
    // A call made again on a new connection keeps the first one's deadline.
    const end: CallEnd =
      typeof until === 'number' ? { timeoutMs: until, endsAtMs: performance.now() + until } : until;
    if (end instanceof AbortSignal) end.throwIfAborted();
    const kept = this.idle.pop();
    let answer: Answer;
    try {
      answer = await this.get(kept ?? this.connect(), kept !== undefined, path, end);
    } catch (error) {
      if (!(error instanceof NoAnswerOnKeptConnection)) throw error;
      answer = await this.get(this.connect(), false, path, end);
    }
    const text = answer.body.toString();
    if (answer.statusCode >= 200 && answer.statusCode < 300) return JSON.parse(text) as T;
    let message = text.trim();
    try {
      message = String((JSON.parse(text) as { message?: unknown }).message ?? message);
    } catch {
      // Not JSON: the text itself says what went wrong.
    }
    throw new EngineAnswerError(answer.statusCode, message);
  }

  /** Closes the idle connections (for tests; the process's exit does it otherwise). */
  close(): void {
    for (const socket of this.idle.splice(0)) socket.destroy();
  }

  /** How many connections wait to be used again (for tests). */
  get idleCount(): number {
    return this.idle.length;
  }

  private connect(): net.Socket {
    const socket = net.connect(this.socketPath);
    // While idle nobody listens: an error then only ends the connection, which is then forgotten.
    socket.on('error', () => {});
    socket.on('close', () => {
      const at = this.idle.indexOf(socket);
      if (at >= 0) this.idle.splice(at, 1);
    });
    return socket;
  }

  private get(socket: net.Socket, kept: boolean, path: string, end: CallEnd): Promise<Answer> {
    return new Promise<Answer>((resolve, reject) => {
      socket.ref();
      let deadline: NodeJS.Timeout | undefined;
      const parser = new HTTPParser(HTTPParser.RESPONSE);
      const body: Buffer[] = [];
      let statusCode = 0;
      let keepAlive = false;
      let answered = false;
      let settled = false;
      const finish = (outcome: () => void) => {
        if (settled) return;
        settled = true;
        socket.off('data', onData).off('error', onError).off('close', onClose);
        if (end instanceof AbortSignal) end.removeEventListener('abort', onAbort);
        else clearTimeout(deadline);
        outcome();
      };
      const fail = (error: Error) =>
        finish(() => {
          socket.destroy();
          reject(kept && !answered ? new NoAnswerOnKeptConnection(error.message, { cause: error }) : error);
        });
      const onData = (chunk: Buffer) => {
        answered = true;
        const parsed = parser.execute(chunk);
        if (parsed instanceof Error) fail(new Error(`unreadable answer from the engine: ${parsed.message}`));
      };
      const onError = (error: Error) => fail(error);
      const onClose = () => {
        // An answer without a length ends with the connection: the parser completes it, if it is one.
        if (answered) parser.finish();
        fail(new Error('the engine closed the connection before its answer was complete'));
      };
      const endWith = (reason: Error) =>
        finish(() => {
          socket.destroy();
          reject(reason);
        });
      const onAbort = () => endWith((end as AbortSignal).reason as Error);
      parser[HTTPParser.kOnHeadersComplete] = (info) => {
        statusCode = info.statusCode;
        keepAlive = info.shouldKeepAlive;
      };
      parser[HTTPParser.kOnBody] = (chunk, offset, length) => {
        body.push(chunk.subarray(offset, offset + length));
      };
      parser[HTTPParser.kOnMessageComplete] = () =>
        finish(() => {
          this.release(socket, keepAlive);
          resolve({ statusCode, body: Buffer.concat(body) });
        });
      socket.on('data', onData).on('error', onError).on('close', onClose);
      if (end instanceof AbortSignal) end.addEventListener('abort', onAbort, { once: true });
      else {
        const { timeoutMs, endsAtMs } = end;
        const onDeadline = () => endWith(engineGaveNoAnswer(timeoutMs));
        deadline = setTimeout(onDeadline, Math.max(0, endsAtMs - performance.now()));
      }
      socket.write(`GET ${path} HTTP/1.1\r\nHost: docker\r\nAccept: application/json\r\n\r\n`);
    });
  }

  private release(socket: net.Socket, keepAlive: boolean): void {
    if (!keepAlive || socket.destroyed || this.idle.length >= this.maxIdle) {
      socket.destroy();
      return;
    }
    socket.unref();
    this.idle.push(socket);
  }
}
