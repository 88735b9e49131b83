/**
 * `make visualize`: writes visualizations/ from the machine definitions.
 * `make visualize-check` (`--check`): writes nothing, exits 1 when the
 * committed documents differ from what the machines generate now.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { findDrift, generateDocuments, loadMermaidBundle, writeDocuments } from './visualize/documents.js';
import { chartedMachines } from './visualize/machines.js';

const repoRoot = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
// `--dir PATH` points the writer or the check elsewhere (the check's own tests use it).
const dirFlag = process.argv.indexOf('--dir');
const dir =
  dirFlag >= 0 && process.argv[dirFlag + 1] !== undefined
    ? path.resolve(process.argv[dirFlag + 1]!)
    : path.join(repoRoot, 'visualizations');
const documents = generateDocuments(chartedMachines, loadMermaidBundle(repoRoot));

if (process.argv.includes('--check')) {
  const drift = findDrift(dir, documents);
  if (drift.length > 0) {
    process.stderr.write(
      `visualizations/ is out of date; run \`make visualize\` and commit the result:\n${drift.map((d) => `  ${d}\n`).join('')}`,
    );
    process.exit(1);
  }
  process.stdout.write(`visualizations/ matches the ${chartedMachines.length} machines\n`);
} else {
  writeDocuments(dir, documents);
  process.stdout.write(`wrote ${[...documents.keys()].map((n) => `visualizations/${n}`).join(', ')}\n`);
}
