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

/** The call a connection carries: what its answer has shown so far, and how it ends. */
interface Call {
  /** Made on a kept connection: a failure before any byte of the answer may be tried again. */
  kept: boolean;
  answered: boolean;
  statusCode: number;
  keepAlive: boolean;
  body: Buffer[];
  end: CallEnd;
  deadline: NodeJS.Timeout | undefined;
  resolve(answer: Answer): void;
  reject(error: Error): void;
}

/**
 * One connection to the engine, its listeners and its parser, made once and
 * used call after call: a parser, its handlers and the socket's listeners
 * made again for each call were about 2 kB of a container's lifecycle
 * (bench/MEASUREMENTS.md, "Fewer copies of the host's Maps"). Bytes that
 * come while no call is in flight drop the connection.
 */
class EngineConnection {
  readonly socket: net.Socket;
  private readonly parser = new HTTPParser(HTTPParser.RESPONSE);
  private call: Call | undefined;

  constructor(
    socketPath: string,
    private readonly answerRead: (connection: EngineConnection, keepAlive: boolean) => void,
    closed: (connection: EngineConnection) => void,
  ) {
    this.socket = net.connect(socketPath);
    this.socket
      .on('data', (chunk: Buffer) => this.onData(chunk))
      .on('error', (error) => this.fail(error))
      .on('close', () => {
        // An answer without a length ends with the connection: the parser completes it, if it is one.
        if (this.call?.answered === true) this.parser.finish();
        this.fail(new Error('the engine closed the connection before its answer was complete'));
        closed(this);
      });
    this.parser[HTTPParser.kOnHeadersComplete] = (info) => {
      if (this.call === undefined) return;
      this.call.statusCode = info.statusCode;
      this.call.keepAlive = info.shouldKeepAlive;
    };
    this.parser[HTTPParser.kOnBody] = (chunk, offset, length) => {
      this.call?.body.push(chunk.subarray(offset, offset + length));
    };
    this.parser[HTTPParser.kOnMessageComplete] = () => {
      const call = this.settle();
      if (call === undefined) return;
      this.answerRead(this, call.keepAlive);
      const { body } = call;
      call.resolve({ statusCode: call.statusCode, body: body.length === 1 ? body[0]! : Buffer.concat(body) });
    };
  }

  get(path: string, end: CallEnd, kept: boolean): Promise<Answer> {
    return new Promise<Answer>((resolve, reject) => {
      this.call = {
        kept,
        answered: false,
        statusCode: 0,
        keepAlive: false,
        body: [],
        end,
        deadline: undefined,
        resolve,
        reject,
      };
      this.socket.ref();
      if (end instanceof AbortSignal) end.addEventListener('abort', this.onAbort, { once: true });
      else this.call.deadline = setTimeout(this.onDeadline, Math.max(0, end.endsAtMs - performance.now()));
      this.socket.write(`GET ${path} HTTP/1.1\r\nHost: docker\r\nAccept: application/json\r\n\r\n`);
    });
  }

  private onData(chunk: Buffer): void {
    if (this.call === undefined) {
      // Nothing asked: whatever this is, the connection cannot be trusted with the next call.
      this.socket.destroy();
      return;
    }
    this.call.answered = true;
    const parsed = this.parser.execute(chunk);
    if (parsed instanceof Error) this.fail(new Error(`unreadable answer from the engine: ${parsed.message}`));
  }

  // The call's own end: never made again on a new connection, whatever it had read.
  private readonly onAbort = () => {
    const end = this.call?.end;
    if (end instanceof AbortSignal) this.fail(end.reason as Error, false);
  };

  private readonly onDeadline = () => {
    const end = this.call?.end;
    if (end !== undefined && !(end instanceof AbortSignal))
      this.fail(engineGaveNoAnswer(end.timeoutMs), false);
  };

  /** The call ends: no timer or listener of it is left. Undefined when none was in flight. */
  private settle(): Call | undefined {
    const call = this.call;
    if (call === undefined) return undefined;
    this.call = undefined;
    if (call.end instanceof AbortSignal) call.end.removeEventListener('abort', this.onAbort);
    else clearTimeout(call.deadline);
    return call;
  }

  /**
   * Ends the call with `error` and the connection with it. A call a kept
   * connection failed before any byte of its answer may be made again on a
   * new one (NoAnswerOnKeptConnection), unless `mayRetry` says otherwise.
   */
  private fail(error: Error, mayRetry = true): void {
    const call = this.settle();
    if (call === undefined) return;
    this.socket.destroy();
    call.reject(
      mayRetry && call.kept && !call.answered
        ? new NoAnswerOnKeptConnection(error.message, { cause: error })
        : error,
    );
  }
}

export class EngineConnections {
  private readonly idle: EngineConnection[] = [];
  private readonly release = (connection: EngineConnection, keepAlive: boolean) => {
    const { socket } = connection;
    if (!keepAlive || socket.destroyed || this.idle.length >= this.maxIdle) {
      socket.destroy();
      return;
    }
    socket.unref();
    this.idle.push(connection);
  };
  private readonly forget = (connection: EngineConnection) => {
    const at = this.idle.indexOf(connection);
    if (at >= 0) this.idle.splice(at, 1);
  };

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
      answer = await (kept ?? this.connect()).get(path, end, kept !== undefined);
    } catch (error) {
      if (!(error instanceof NoAnswerOnKeptConnection)) throw error;
      answer = await this.connect().get(path, end, false);
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
    for (const connection of this.idle.splice(0)) connection.socket.destroy();
  }

  /** How many connections wait to be used again (for tests). */
  get idleCount(): number {
    return this.idle.length;
  }

  private connect(): EngineConnection {
    return new EngineConnection(this.socketPath, this.release, this.forget);
  }
}
