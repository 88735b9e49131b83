/**
 * A minimal Node implementation of the DPI endpoint, in its own process, as
 * a yardstick for the API benchmark: Node's HTTPS server with the service's
 * own key and certificate, the body read and parsed as JSON, and a fixed
 * answer. In `files` mode it also writes `DPI` durably (temp file, fsync,
 * rename, blocking) into one folder per host port, and `.ready` once.
 * Whatever the service spends above it is the service's own code; it is not
 * a limit, only what plain Node does on this machine in the same run.
 *
 * Usage: bareHttps.ts <key.pem> <cert.pem> <fixed | files:<folder>>;
 * prints `listening <port>`.
 */
import fs from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { writeDurablySync } from './durableWrite.js';

const [keyFile, certFile, mode = 'fixed'] = process.argv.slice(2);
const folderRoot = mode.startsWith('files:') ? mode.slice('files:'.length) : undefined;
const answer = JSON.stringify({ result: 'DPI set' });

function writeFiles(hostPort: number, dpi: number): void {
  const folder = path.join(folderRoot!, String(hostPort));
  const ready = path.join(folder, '.ready');
  fs.mkdirSync(folder, { recursive: true });
  writeDurablySync(path.join(folder, 'DPI'), String(dpi));
  if (!fs.existsSync(ready)) writeDurablySync(ready, '.ready');
}

const server = https.createServer(
  { key: fs.readFileSync(keyFile!), cert: fs.readFileSync(certFile!), minVersion: 'TLSv1.2' },
  (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { host_port: number; dpi: number };
      if (folderRoot !== undefined) writeFiles(body.host_port, body.dpi);
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': answer.length });
      res.end(answer);
    });
  },
);
server.listen({ port: 0, host: '127.0.0.1' }, () => {
  process.stdout.write(`listening ${(server.address() as AddressInfo).port}\n`);
});
