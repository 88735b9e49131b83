/**
 * A TypeScript module's text run in a fresh Node process (through tsx, from
 * the repo root), for tests of what only a whole process shows: V8 flags,
 * clean-up at exit.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { repoRoot } from './service.js';

const run = promisify(execFile);

/** Its standard output; a failure or a run over 15 s rejects. */
export async function runModuleScript(script: string, nodeFlags: readonly string[] = []): Promise<string> {
  const { stdout } = await run(
    process.execPath,
    [...nodeFlags, '--import', 'tsx', '--input-type=module', '-e', script],
    { cwd: repoRoot, timeout: 15_000 },
  );
  return stdout;
}
