/**
 * The HTTPS server the webserver calls. Every request goes through the same
 * steps, in this order and before any work: path (404), method (400), body
 * size (400), JSON (400), auth_secret (401), fields (400). What survives
 * becomes an `ApiCall` on `calls$`; whoever handles it answers through
 * `answer()`. A call nobody answers gets a 406 after `replyTimeoutMs`, and
 * `close()` answers whatever is still open: no request is left hanging.
 */
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Subject, type Observable } from 'rxjs';
import type { ApiRequest } from '../../machines/events.js';
import type { Logger } from '../observability/logger.js';
import { ENDPOINTS, MAX_BODY_BYTES, TEXT, secretMatches } from './requests.js';
import type { TlsIdentity } from './certificate.js';

export type ApiAnswer = { status: 200; result: string } | { status: 406; error: string };

export interface ApiCall {
  requestId: string;
  request: ApiRequest;
}

export interface ApiServerOptions {
  port: number;
  /** All interfaces by default. */
  host?: string;
  identity: TlsIdentity;
  authSecret: string;
  replyTimeoutMs: number;
  knownProviders: ReadonlySet<string>;
  logger: Logger;
  /** Every actor's state, for `POST /state_snapshot`. */
  stateSnapshot?: () => unknown;
}

export interface ApiServer {
  calls$: Observable<ApiCall>;
  /** Answers an open call; an answer for a call already answered (or timed out) is dropped. */
  answer(requestId: string, answer: ApiAnswer): void;
  port: number;
  openCalls(): number;
  /** Answers every open call with 406 `reason` and stops listening. */
  close(reason: string): Promise<void>;
}

interface OpenCall {
  res: ServerResponse;
  timer: NodeJS.Timeout;
  startedAt: number;
  path: string;
}

/** Slow clients may not hold a connection open forever. */
const HEADERS_TIMEOUT_MS = 10_000;
const BODY_TIMEOUT_MS = 15_000;
const LINGER_MS = 1000;
const LINGER_BYTES = 64 * 1024 * 1024;

function sendText(res: ServerResponse, status: number, text: string, close = false): void {
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    ...(close ? { Connection: 'close' } : {}),
  });
  res.end(text);
}

function sendJson(res: ServerResponse, status: number, body: object): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/**
 * Answers without reading the body. The rest of the body is discarded, not
 * kept, for a short while (a client still sending would otherwise get a TCP
 * reset that can swallow our answer); past that, the connection is cut.
 */
function refuseUnread(req: IncomingMessage, res: ServerResponse, status: number, text: string): void {
  let discarded = 0;
  const cut = () => req.socket.destroy();
  const timer = setTimeout(cut, LINGER_MS);
  req.on('data', (chunk: Buffer) => {
    discarded += chunk.length;
    if (discarded > LINGER_BYTES) cut();
  });
  req.once('end', () => clearTimeout(timer));
  req.socket.once('close', () => clearTimeout(timer));
  req.resume();
  sendText(res, status, text);
}

type BodyResult = { ok: true; body: Buffer } | { ok: false };

/** Reads at most `limit` bytes; refuses on the declared length alone when it is too large. */
function readBody(req: IncomingMessage, limit: number): Promise<BodyResult> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) return Promise.resolve({ ok: false });
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.off('data', onData);
        req.pause();
        resolve({ ok: false });
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.on('end', () => resolve({ ok: true, body: Buffer.concat(chunks, size) }));
    req.on('error', reject);
  });
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}

export async function startApiServer(options: ApiServerOptions): Promise<ApiServer> {
  const { logger } = options;
  const calls = new Subject<ApiCall>();
  const open = new Map<string, OpenCall>();
  let nextId = 0;
  let closing: string | undefined;

  const answer = (requestId: string, reply: ApiAnswer) => {
    const call = open.get(requestId);
    if (call === undefined) return;
    open.delete(requestId);
    clearTimeout(call.timer);
    if (call.res.writableEnded || call.res.destroyed) return;
    if (reply.status === 200) sendJson(call.res, 200, { result: reply.result });
    else sendJson(call.res, 406, { result: '', error: reply.error });
    logger.debug(
      { requestId, path: call.path, status: reply.status, ms: Date.now() - call.startedAt },
      'API request answered',
    );
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '/';
    // A call names its endpoint exactly; only anything else (a query, dot segments, an absolute
    // form) is parsed as a URL, which cost 2% of a DPI request in a profile of the service.
    const path = Object.hasOwn(ENDPOINTS, url) ? url : new URL(url, 'https://host').pathname;
    const endpoint = Object.hasOwn(ENDPOINTS, path) ? ENDPOINTS[path] : undefined;
    // Answers given before the body is read end the connection: the unread body is never read.
    if (endpoint === undefined) return refuseUnread(req, res, 404, TEXT.notFound);
    if (req.method !== endpoint.method) {
      return refuseUnread(req, res, 400, TEXT.methodNotAllowed(req.method ?? '', endpoint.method));
    }
    const read = await readBody(req, MAX_BODY_BYTES);
    if (!read.ok) return refuseUnread(req, res, 400, TEXT.bodyTooLarge);
    const body = parseJson(read.body);
    if (body === undefined) return sendText(res, 400, TEXT.notJson);
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      return sendText(res, 400, TEXT.notObject);
    }
    const fields = body as Record<string, unknown>;
    const secret = fields['auth_secret'];
    if (typeof secret !== 'string' || secret === '') return sendText(res, 401, TEXT.secretMissing);
    if (!secretMatches(secret, options.authSecret)) return sendText(res, 401, TEXT.secretWrong);

    const parsed = endpoint.parse(fields, options.knownProviders);
    if (!parsed.ok && parsed.status === 400) return sendText(res, 400, parsed.text);
    if (!parsed.ok) return sendJson(res, 406, { result: '', error: parsed.error });
    if (closing !== undefined) return sendJson(res, 406, { result: '', error: closing });
    if ('stateSnapshot' in parsed) {
      const snapshot = options.stateSnapshot?.();
      if (typeof snapshot !== 'object' || snapshot === null) {
        return sendJson(res, 406, { result: '', error: 'no state snapshot here' });
      }
      return sendJson(res, 200, snapshot);
    }

    const requestId = String(++nextId);
    const timer = setTimeout(
      () => answer(requestId, { status: 406, error: `no answer within ${options.replyTimeoutMs} ms` }),
      options.replyTimeoutMs,
    );
    open.set(requestId, { res, timer, startedAt: Date.now(), path });
    // A client that hangs up is not waited for; a late answer then finds nothing to do.
    res.once('close', () => {
      const call = open.get(requestId);
      if (call?.res !== res) return;
      clearTimeout(call.timer);
      open.delete(requestId);
    });
    calls.next({ requestId, request: parsed.request });
  };

  const server = https.createServer(
    {
      key: options.identity.keyPem,
      cert: options.identity.certPem,
      // Asks no client for a certificate, so it trusts no one: without this, Node parses its whole
      // store of root certificates for the server (about 20 ms of the start, in a CPU profile).
      ca: [],
      minVersion: 'TLSv1.2',
      headersTimeout: HEADERS_TIMEOUT_MS,
      requestTimeout: BODY_TIMEOUT_MS,
    },
    (req, res) => {
      handle(req, res).catch((error: unknown) => {
        logger.warn({ err: error }, 'API request failed while being read');
        if (!res.headersSent) sendText(res, 400, 'request could not be read', true);
        else res.destroy();
      });
    },
  );
  // TLS handshakes that fail (scanners, wrong protocol) are routine on a public port.
  server.on('tlsClientError', (error) => logger.debug({ err: error }, 'TLS handshake failed'));

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: options.port, host: options.host }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;

  return {
    calls$: calls.asObservable(),
    answer,
    port,
    openCalls: () => open.size,
    close: async (reason) => {
      closing = reason;
      for (const requestId of [...open.keys()]) answer(requestId, { status: 406, error: reason });
      calls.complete();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      // Connections still mid-request get a moment to receive their answers.
      const forced = setTimeout(() => server.closeAllConnections(), 1000);
      await closed;
      clearTimeout(forced);
    },
  };
}
