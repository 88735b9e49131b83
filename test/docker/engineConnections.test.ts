/**
 * The engine's kept connections (src/docker/engineConnections.ts) against a
 * real HTTP server on a unix socket: answers in one piece or in chunks,
 * errors, concurrent calls, and connections the server closes while kept.
 */
import fs from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  EngineAnswerError,
  EngineConnections,
  MAX_IDLE_CONNECTIONS,
} from '../../src/docker/engineConnections.js';

const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'hs-engine-connections-'));
const socketPath = path.join(folder, 'engine.sock');
let server: http.Server;
const serverSockets = new Set<net.Socket>();
let connectionsMade = 0;
let connections: EngineConnections;

beforeAll(async () => {
  server = http.createServer((request, response) => {
    const url = request.url ?? '';
    if (url === '/chunked') {
      // No length: Node sends it chunked, as the engine does for a large inspection.
      response.writeHead(200, { 'content-type': 'application/json' });
      response.write('{"Id": "abc",');
      setTimeout(() => response.end(` "Pad": "${'x'.repeat(20_000)}"}`), 5);
      return;
    }
    if (url === '/missing') {
      response.writeHead(404, { 'content-type': 'application/json' });
      response.end('{"message": "No such container: missing"}');
      return;
    }
    if (url.startsWith('/slow/')) {
      setTimeout(() => response.end(JSON.stringify({ Id: url.slice('/slow/'.length) })), 20);
      return;
    }
    if (url === '/never') return; // Answers nothing: a call waits for its deadline.
    if (url === '/then-more') {
      // Bytes nobody asked for, after a whole answer, on a connection kept for the next call.
      response.end('{"Id": "then-more"}', () =>
        setTimeout(() => request.socket.write('HTTP/1.1 200 OK\r\n'), 5),
      );
      return;
    }
    if (url === '/closing') {
      response.writeHead(200, { 'content-type': 'application/json', connection: 'close' });
      response.end('{"Id": "closing"}');
      return;
    }
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ Id: url.slice(1) }));
  });
  server.on('connection', (socket) => {
    connectionsMade += 1;
    serverSockets.add(socket);
    socket.on('close', () => serverSockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
});

afterEach(() => {
  connections.close();
  server.closeAllConnections();
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  fs.rmSync(folder, { recursive: true, force: true });
});

const deadline = () => AbortSignal.timeout(5_000);
const fresh = () => {
  connections = new EngineConnections(socketPath);
  connectionsMade = 0;
  return connections;
};

describe('GETs of the engine on kept connections', () => {
  it('reads an answer sent in chunks, whole', async () => {
    const answer = await fresh().getJson<{ Id: string; Pad: string }>('/chunked', deadline());
    expect(answer.Id).toBe('abc');
    expect(answer.Pad).toHaveLength(20_000);
  });

  it('makes one connection for calls one after another', async () => {
    const engine = fresh();
    for (const id of ['a', 'b', 'c']) expect(await engine.getJson(`/${id}`, deadline())).toEqual({ Id: id });
    expect(connectionsMade).toBe(1);
    expect(engine.idleCount).toBe(1);
  });

  it('a kept connection the engine closed is replaced, and the call answered', async () => {
    const engine = fresh();
    await engine.getJson('/a', deadline());
    // The engine restarts: every connection goes, and the next call comes before the client has seen it.
    for (const socket of serverSockets) socket.destroy();
    const call = engine.getJson('/b', deadline());
    expect(engine.idleCount).toBe(0);
    expect(await call).toEqual({ Id: 'b' });
    expect(connectionsMade).toBe(2);
  });

  it('drops a kept connection that sends what nobody asked for, and answers the next call on a new one', async () => {
    const engine = fresh();
    expect(await engine.getJson('/then-more', deadline())).toEqual({ Id: 'then-more' });
    expect(engine.idleCount).toBe(1);
    await vi.waitFor(() => expect(engine.idleCount).toBe(0));
    expect(await engine.getJson('/b', deadline())).toEqual({ Id: 'b' });
    expect(connectionsMade).toBe(2);
  });

  it('an error answer carries its status and the engine message', async () => {
    await expect(fresh().getJson('/missing', deadline())).rejects.toEqual(
      new EngineAnswerError(404, 'No such container: missing'),
    );
    await expect(connections.getJson('/missing', deadline())).rejects.toMatchObject({ statusCode: 404 });
  });

  it('answers concurrent calls each with its own, and keeps at most a few connections', async () => {
    const engine = fresh();
    const ids = Array.from({ length: 3 * MAX_IDLE_CONNECTIONS }, (_, i) => `c${i}`);
    const answers = await Promise.all(ids.map((id) => engine.getJson(`/slow/${id}`, deadline())));
    expect(answers).toEqual(ids.map((id) => ({ Id: id })));
    expect(connectionsMade).toBe(ids.length);
    expect(engine.idleCount).toBe(MAX_IDLE_CONNECTIONS);
  });

  it('does not keep a connection the engine says it closes', async () => {
    const engine = fresh();
    expect(await engine.getJson('/closing', deadline())).toEqual({ Id: 'closing' });
    expect(engine.idleCount).toBe(0);
  });

  it('an aborted call rejects with the reason and its connection is not kept', async () => {
    const engine = fresh();
    const controller = new AbortController();
    const call = engine.getJson('/slow/x', controller.signal);
    controller.abort(new Error('deadline'));
    await expect(call).rejects.toThrow('deadline');
    expect(engine.idleCount).toBe(0);
    await expect(engine.getJson('/a', controller.signal)).rejects.toThrow('deadline');
  });

  it('a deadline in ms ends a call not answered by then, says so, and its connection is not kept', async () => {
    const engine = fresh();
    await expect(engine.getJson('/slow/x', 5)).rejects.toThrow('the engine gave no answer within 5 ms');
    expect(engine.idleCount).toBe(0);
    expect(await engine.getJson('/a', 5_000)).toEqual({ Id: 'a' });
  });

  it('a call answered before its deadline clears its timer', async () => {
    const engine = fresh();
    const setTimer = vi.spyOn(globalThis, 'setTimeout');
    const clearTimer = vi.spyOn(globalThis, 'clearTimeout');
    try {
      const call = engine.getJson('/a', 60_000);
      const deadlineTimer = setTimer.mock.results.find((_, i) => (setTimer.mock.calls[i]![1] ?? 0) > 59_000);
      expect(deadlineTimer).toBeDefined();
      expect(await call).toEqual({ Id: 'a' });
      expect(clearTimer).toHaveBeenCalledWith(deadlineTimer!.value);
    } finally {
      setTimer.mockRestore();
      clearTimer.mockRestore();
    }
  });

  it('a call made again on a new connection keeps its first deadline', async () => {
    const engine = fresh();
    await engine.getJson('/a', 5_000);
    // The kept connection dies once the call waits on it: the call is made again with what is left
    // of its 300 ms, so it ends about 300 ms after it began, not 200 + 300.
    const kept = [...serverSockets];
    const startedAt = Date.now();
    const call = engine.getJson('/never', 300);
    setTimeout(() => kept.forEach((socket) => socket.destroy()), 200);
    await expect(call).rejects.toThrow('the engine gave no answer within 300 ms');
    expect(Date.now() - startedAt).toBeLessThan(450);
    expect(connectionsMade).toBe(2);
  });

  it('an engine that is not there fails the call with the reason', async () => {
    const nowhere = new EngineConnections(path.join(folder, 'none.sock'));
    await expect(nowhere.getJson('/a', deadline())).rejects.toMatchObject({ code: 'ENOENT' });
    connections = nowhere;
  });
});
