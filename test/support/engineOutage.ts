/**
 * A Unix socket in front of the private engine, for one service to use as
 * its DOCKER_HOST. It forwards bytes untouched, and can go away the way the
 * engine does when it stops (its socket gone, every connection cut) while the
 * engine and its containers run on. The outage can begin the moment a chosen
 * request arrives, before the engine sees it, so that a test meets the
 * service in the middle of that call rather than hoping to.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface EngineOutage {
  /** DOCKER_HOST for the service. */
  dockerHost: string;
  /**
   * Cuts everything when the first request matching `request` arrives, and
   * listens again `ms` later: resolves then, with the request it met. Fails
   * if no such request arrives within `withinMs`.
   */
  outageOn(request: RegExp, ms: number, withinMs?: number): Promise<string>;
  close(): Promise<void>;
}

function engineSocketPath(): string {
  const host = process.env['DOCKER_HOST'] ?? 'unix:///var/run/docker.sock';
  if (!host.startsWith('unix://')) throw new Error(`the engine is not on a unix socket: DOCKER_HOST=${host}`);
  return host.slice('unix://'.length);
}

export async function startEngineOutage(): Promise<EngineOutage> {
  const engineSocket = engineSocketPath();
  const socketPath = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'hs-outage-')), 'engine.sock');
  const open = new Set<net.Socket>();
  let armed: { request: RegExp; ms: number; met: (line: string) => void } | undefined;

  const server = net.createServer((client) => {
    const engine = net.connect(engineSocket);
    open.add(client).add(engine);
    const forget = () => {
      open.delete(client);
      open.delete(engine);
      client.destroy();
      engine.destroy();
    };
    client.on('close', forget).on('error', forget);
    engine.on('close', forget).on('error', forget);
    engine.pipe(client);
    // A request line is far shorter than this, so one split across two reads is still found.
    let tail = '';
    client.on('data', (chunk: Buffer) => {
      const seen = tail + chunk.toString('latin1');
      const match = armed?.request.exec(seen);
      if (armed !== undefined && match) {
        const { ms, met } = armed;
        armed = undefined;
        cutEverything(ms, () => met(match[0]));
        return;
      }
      tail = seen.slice(-512);
      engine.write(chunk);
    });
  });

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });

  function cutEverything(ms: number, done: () => void) {
    // Closing a unix listener removes its socket file: new connections fail as with a stopped engine.
    server.close();
    for (const socket of open) socket.destroy();
    open.clear();
    setTimeout(() => void listen().then(done), ms);
  }

  await listen();
  return {
    dockerHost: `unix://${socketPath}`,
    outageOn: (request, ms, withinMs = 20_000) =>
      new Promise<string>((resolve, reject) => {
        const late = setTimeout(() => {
          armed = undefined;
          reject(
            new Error(`no request matching ${String(request)} reached the engine within ${withinMs} ms`),
          );
        }, withinMs);
        armed = {
          request,
          ms,
          met: (line) => {
            clearTimeout(late);
            resolve(line);
          },
        };
      }),
    close: async () => {
      armed = undefined;
      for (const socket of open) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      fs.rmSync(path.dirname(socketPath), { recursive: true, force: true });
    },
  };
}
