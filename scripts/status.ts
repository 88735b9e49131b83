/**
 * `make status`: prints every actor's state on a running host service, as a
 * table (default) or as JSON (`--json`).
 *
 *   HOST_SERVICE_URL       [https://127.0.0.1:$HOST_SERVICE_PORT, port 4678]
 *   WEBSERVER_AUTH_SECRET  the shared secret (read from the environment, never from the command line)
 *   HOST_SERVICE_CA_FILE   PEM of the API's self-signed certificate, to pin it
 */
import fs from 'node:fs';
import path from 'node:path';
import { fetchStateSnapshot } from '../src/observability/statusClient.js';
import { renderStateTable } from '../src/observability/stateSnapshot.js';

const env = process.env;
const url = env['HOST_SERVICE_URL'] || `https://127.0.0.1:${env['HOST_SERVICE_PORT'] || '4678'}`;
// The certificate the service writes at start; pinned so that no other server is believed.
const defaultCaFile = path.join(env['HOST_SERVICE_ROOT'] || '/', 'fractalprivate', 'cert.pem');
const caFile = env['HOST_SERVICE_CA_FILE'] || (fs.existsSync(defaultCaFile) ? defaultCaFile : undefined);

try {
  const snapshot = await fetchStateSnapshot({
    url,
    authSecret: env['WEBSERVER_AUTH_SECRET'] ?? '',
    ...(caFile ? { ca: fs.readFileSync(caFile, 'utf8') } : {}),
  });
  process.stdout.write(
    process.argv.includes('--json') ? `${JSON.stringify(snapshot, null, 2)}\n` : renderStateTable(snapshot),
  );
} catch (error) {
  process.stderr.write(`status: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}
