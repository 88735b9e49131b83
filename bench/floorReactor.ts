/**
 * The floor of the start → `tty` latency on this machine: the least any
 * implementation of the contract must do, done by a separate process with no
 * machines, no streams and no checks. On each `start` event it inspects the
 * container (the host port is only known once it runs), makes its folder and
 * writes `hostPort_for_my_32262_tcp` then `tty` (temp file, fsync, rename),
 * with plain blocking calls. The benchmark measures it exactly as it measures
 * the service, so the difference between the two is the service's own cost.
 *
 * Usage: floorReactor.ts <mapping root>; prints `ready` once it listens.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import readline from 'node:readline';
import { writeDurablySync } from './durableWrite.js';

const root = process.argv[2]!;
const socketPath = (process.env['DOCKER_HOST'] ?? 'unix:///var/run/docker.sock').replace(/^unix:\/\//, '');
const agent = new http.Agent({ keepAlive: true });
let nextTty = 10;

function engineGet(urlPath: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ socketPath, path: urlPath, agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

interface Inspection {
  NetworkSettings?: { Ports?: Record<string, { HostPort: string }[] | null> };
}

async function onStart(containerId: string): Promise<void> {
  const inspection = JSON.parse(await engineGet(`/containers/${containerId}/json`)) as Inspection;
  const hostPort = inspection.NetworkSettings?.Ports?.['32262/tcp']?.[0]?.HostPort;
  if (hostPort === undefined) return;
  const folder = path.join(root, containerId);
  fs.mkdirSync(folder, { recursive: true });
  writeDurablySync(path.join(folder, 'hostPort_for_my_32262_tcp'), hostPort);
  writeDurablySync(path.join(folder, 'tty'), String(nextTty++));
}

const filters = encodeURIComponent(JSON.stringify({ type: ['container'], event: ['start'] }));
http
  .get({ socketPath, path: `/events?filters=${filters}` }, (res) => {
    process.stdout.write('ready\n');
    readline.createInterface({ input: res }).on('line', (line) => {
      const event = JSON.parse(line) as { id: string };
      onStart(event.id).catch((error: unknown) => process.stderr.write(`floor reactor: ${String(error)}\n`));
    });
  })
  .on('error', (error) => {
    process.stderr.write(`floor reactor: ${error.message}\n`);
    process.exit(1);
  });
