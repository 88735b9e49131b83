/**
 * `make status`: prints every actor's state on a running host service, as a
 * table (default) or as JSON (`--json`). With no settings it finds what
 * `make run` uses: its certificate under .run/root and the development secret.
 *
 *   HOST_SERVICE_URL       [https://127.0.0.1:$HOST_SERVICE_PORT, port 4678]
 *   WEBSERVER_AUTH_SECRET  the shared secret (read from the environment, never from the command line)
 *   HOST_SERVICE_CA_FILE   PEM of the API's self-signed certificate, to pin it
 *   HOST_SERVICE_ROOT      where to look for that certificate (fractalprivate/cert.pem)
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { statusFromEnvironment } from '../src/observability/statusClient.js';
import { renderStateTable } from '../src/observability/stateSnapshot.js';

const repoRoot = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const result = await statusFromEnvironment(process.env, path.join(repoRoot, '.run', 'root'));
if (!result.ok) {
  process.stderr.write(`status: ${result.message}\n`);
  process.exit(1);
}
process.stdout.write(
  process.argv.includes('--json')
    ? `${JSON.stringify(result.snapshot, null, 2)}\n`
    : renderStateTable(result.snapshot),
);
