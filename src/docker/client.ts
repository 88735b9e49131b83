/**
 * The engine client. dockerode reads DOCKER_HOST the way Docker's own tools
 * do. No client-wide timeout: docker-modem would apply it to the event stream
 * too and kill it when idle, so every call gets its own deadline instead.
 *
 * Connections are kept alive between calls: a new connection per call cost
 * about 1.5 ms of every inspection. The inspection and the re-list have their
 * own kept connections (`getJsonFromEngine`, ./engineConnections.ts);
 * dockerode's calls keep theirs in `EngineAgent`. An engine restart closes
 * them all; a call on one fails (and is retried by its caller), and an idle
 * one is simply dropped by the agent. What used to end the service when the
 * engine went away with kept-alive connections was the event stream's
 * readline, not this client (see src/docker/events.ts).
 */
import http from 'node:http';
import util from 'node:util';
import Docker from 'dockerode';
import { EngineConnections } from './engineConnections.js';
import { engineGaveNoAnswer } from './errors.js';

/**
 * docker-modem listens for errors on a response body only for streams. When
 * the engine goes away in the middle of an ordinary answer (an engine restart
 * during a list of containers), Node emits 'error' on that body with nobody
 * listening, which is an uncaught exception, and the call's promise never
 * settles. This agent listens on every body and turns such an error into an
 * error of the request, which docker-modem does handle: the call rejects and
 * is retried.
 */
class EngineAgent extends http.Agent {
  /**
   * docker-modem formats every request's options, agent included, with
   * `util.inspect(..., { showHidden: true, depth: null })` for a debug line,
   * even when debug output is off. The agent holds every open socket, so each
   * call cost time in proportion to the calls in flight: 100 concurrent
   * inspections at restart spent 1.5 s formatting. A one-line description
   * keeps that formatting constant.
   */
  [util.inspect.custom](): string {
    return `EngineAgent { sockets: ${Object.values(this.sockets).flat().length} }`;
  }

  addRequest(request: http.ClientRequest, options: http.RequestOptions): void {
    request.once('response', (response: http.IncomingMessage) => {
      response.on('error', (error) => request.emit('error', error));
    });
    (http.Agent.prototype as unknown as { addRequest: EngineAgent['addRequest'] }).addRequest.call(
      this,
      request,
      options,
    );
  }
}

export function createDockerClient(): Docker {
  const host = process.env['DOCKER_HOST'] ?? '';
  // TLS engines need an https agent; the fleet's engines are local sockets.
  const plainHttp =
    host === '' ||
    host.startsWith('unix://') ||
    (host.startsWith('tcp://') && !process.env['DOCKER_TLS_VERIFY'] && !host.endsWith(':2376'));
  // docker-modem takes `agent`; dockerode's typings do not list it.
  return new Docker(
    plainHttp ? ({ agent: new EngineAgent({ keepAlive: true }) } as Docker.DockerOptions) : undefined,
  );
}

/** An abort signal for one engine call, so that a hung engine cannot hang us. */
export function engineDeadline(timeoutMs: number): { abortSignal: AbortSignal } {
  return { abortSignal: AbortSignal.timeout(timeoutMs) };
}

/**
 * Runs one engine call with a deadline that ends with the call. An
 * `AbortSignal.timeout` outlives its call: docker-modem ties it to the
 * response, which stays referenced until the timer fires and is then
 * destroyed for nothing. For an inspection through dockerode, where the
 * engine is not on a unix socket (the bare-socket call has its own timer).
 *
 * A call cut off by the deadline fails with the deadline's own error: Node's
 * HTTP client rejects with a bare "The operation was aborted", which is all
 * a log line would otherwise say.
 */
export async function withEngineDeadline<T>(
  timeoutMs: number,
  call: (options: { abortSignal: AbortSignal }) => Promise<T>,
): Promise<T> {
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(engineGaveNoAnswer(timeoutMs)), timeoutMs);
  try {
    return await call({ abortSignal: deadline.signal });
  } catch (error) {
    throw deadline.signal.aborted ? (deadline.signal.reason as Error) : error;
  } finally {
    clearTimeout(timer);
  }
}

/** What dockerode's modem keeps of the engine's address (docker-modem sets these from DOCKER_HOST). */
interface ModemAddress {
  agent?: unknown;
  /** Set only when DOCKER_HOST names a unix socket (or is unset). */
  socketPath?: string;
  version?: string;
}

/** One set of kept connections per engine client. */
const connectionsOf = new WeakMap<Docker, EngineConnections>();

/**
 * A GET of the engine's API answered with JSON, on the client's own kept
 * connections to the engine's unix socket (./engineConnections.ts), when the
 * engine is reached on one (as on every host); `undefined` for any other
 * set-up (TCP, TLS), where the caller uses dockerode.
 *
 * Why not dockerode for the inspection: it runs on every container start, and
 * docker-modem adds to each its redirect wrapper, a `url.format` and several
 * merges of the options, and its own buffering of the answer (11% of the
 * service's main thread in a perf profile of 600 lifecycles, nearly all of it
 * this call); and Node's HTTP client under it was, at a host's pace, twice
 * the CPU of the bare socket (./engineConnections.ts). A failure reads as
 * dockerode's do: an error with the answer's `statusCode`, so
 * `isNotFoundError` holds for both.
 */
export function getJsonFromEngine<T>(
  docker: Docker,
  path: string,
  /** A deadline in ms, or a signal that ends the call (`EngineConnections.getJson`). */
  until: AbortSignal | number,
): Promise<T> | undefined {
  const modem = docker.modem as ModemAddress;
  const { agent, socketPath, version } = modem;
  // Our own agent marks a client made by createDockerClient for a unix socket.
  if (!(agent instanceof EngineAgent) || typeof socketPath !== 'string') return undefined;
  let connections = connectionsOf.get(docker);
  if (connections === undefined) {
    connections = new EngineConnections(socketPath);
    connectionsOf.set(docker, connections);
  }
  return connections.getJson<T>(version === undefined ? path : `/${version}${path}`, until);
}

export function describeDockerHost(): string {
  return process.env['DOCKER_HOST'] ?? 'unix:///var/run/docker.sock';
}

export type { Docker };
