/**
 * `getJsonFromEngine` against a real HTTP server on a unix socket that
 * misbehaves the ways an engine can: it goes away in the middle of an
 * answer, answers with something that is not JSON, or does not answer at
 * all. Each call settles, and says why.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  createDockerClient,
  getJsonFromEngine,
  withEngineDeadline,
  type Docker,
} from '../../src/docker/client.js';

const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'hs-engine-client-'));
const socketPath = path.join(folder, 'engine.sock');
let server: http.Server;
let docker: Docker;

beforeAll(async () => {
  server = http.createServer((request, response) => {
    if (request.url?.endsWith('/cut/json')) {
      // Headers and half a body, then the connection goes.
      response.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
      response.write('{"Id": "abc", "Na');
      setTimeout(() => request.socket.destroy(), 20);
      return;
    }
    // Never answers: the engine hangs.
    if (request.url?.endsWith('/silent/json')) return;
    if (request.url?.endsWith('/garbled/json')) {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end('{"Id": ');
      return;
    }
    response.writeHead(500, { 'content-type': 'text/plain' });
    response.end('engine trouble\n');
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  vi.stubEnv('DOCKER_HOST', `unix://${socketPath}`);
  docker = createDockerClient();
  vi.unstubAllEnvs();
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  fs.rmSync(folder, { recursive: true, force: true });
});

const get = (what: string) =>
  getJsonFromEngine(docker, `/containers/${what}/json`, AbortSignal.timeout(5_000))!;

describe('a GET of the engine on a unix socket', () => {
  it('fails at once when the engine goes away in the middle of an answer, not at its deadline', async () => {
    const startedAt = Date.now();
    const call = getJsonFromEngine(docker, '/containers/cut/json', AbortSignal.timeout(60_000))!;
    await expect(call).rejects.toThrow(/aborted|closed the connection|socket hang up/);
    expect(Date.now() - startedAt).toBeLessThan(2_000);
  });

  it('fails on an answer that is not JSON', async () => {
    await expect(get('garbled')).rejects.toThrow(SyntaxError);
  });

  it('fails with the status and the text of an error answer that is not JSON', async () => {
    await expect(get('other')).rejects.toMatchObject({
      statusCode: 500,
      message: '(HTTP code 500) engine trouble',
    });
  });

  it('gives up at the deadline and says so, not only that it was aborted', async () => {
    await expect(
      withEngineDeadline(200, ({ abortSignal }) =>
        getJsonFromEngine(docker, '/containers/silent/json', abortSignal)!,
      ),
    ).rejects.toThrow('the engine gave no answer within 200 ms');
  });

  it('given a deadline in ms, as an inspection is, gives up then and says so', async () => {
    const startedAt = Date.now();
    await expect(getJsonFromEngine(docker, '/containers/silent/json', 200)!).rejects.toThrow(
      'the engine gave no answer within 200 ms',
    );
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(190);
  });

  it('serves again after each of those', async () => {
    await expect(get('other')).rejects.toMatchObject({ statusCode: 500 });
  });
});
