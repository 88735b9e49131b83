/**
 * `make bench`: runs every bench/*.bench.ts in turn, each in its own process
 * (so one benchmark's memory does not colour the next), against the private
 * engine that scripts/test-engine.sh started.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { singleExecutable } from '../test/support/service.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const only = process.argv.slice(2);
const benches = fs
  .readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort();

// Figures of one build must not pass for the other's.
const measured = singleExecutable
  ? `the single executable ${singleExecutable}`
  : `the development build, on Node.js ${process.version}`;
process.stdout.write(`measuring ${measured}\n`);

let failed = 0;
for (const bench of benches) {
  process.stdout.write(`\n=== ${bench}\n`);
  const result = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', path.join(here, bench)], {
    stdio: 'inherit',
  });
  if (result.status !== 0) {
    failed += 1;
    process.stdout.write(`${bench} failed (${result.status ?? result.signal})\n`);
  }
}
process.exit(failed === 0 ? 0 : 1);
