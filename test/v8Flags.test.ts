import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const repoRoot = path.resolve(import.meta.dirname, '..');

/**
 * A loop hot enough for TurboFan, with a callee it would inline; V8 names
 * each function it considers inlining on stdout under --trace-turbo-inlining
 * (the loader's own functions too, optimized before the module is imported).
 */
const hotLoop = `
function inlinableCallee(a, b) { return a + b; }
function hotCaller(n) { let s = 0; for (let i = 0; i < n; i++) s = inlinableCallee(s, i); return s; }
let total = 0;
for (let k = 0; k < 3000; k++) total += hotCaller(1000);
if (total <= 0) throw new Error('unreachable');
`;

async function inliningTrace(importFlags: boolean): Promise<string> {
  const flagsModule = path.join(repoRoot, 'src/v8Flags.ts');
  const script = (importFlags ? `await import(${JSON.stringify(flagsModule)});\n` : '') + hotLoop;
  const { stdout } = await run(
    process.execPath,
    ['--trace-turbo-inlining', '--trace-opt', '--import', 'tsx', '--input-type=module', '-e', script],
    { cwd: repoRoot, timeout: 15_000 },
  );
  return stdout;
}

describe('V8 settings', () => {
  it('turn off TurboFan inlining once the module is imported, where V8 inlines without it', async () => {
    const [without, withFlags] = await Promise.all([inliningTrace(false), inliningTrace(true)]);
    // The control: this Node inlines `add` into `sum` by default, so the check below can fail.
    const consideredForInlining = /SharedFunctionInfo inlinableCallee>.* for inlining/;
    expect(without).toMatch(consideredForInlining);
    // And TurboFan did optimize the caller, so nothing was inlined because nothing may be.
    expect(withFlags).toMatch(/completed optimizing .*hotCaller/);
    expect(withFlags).not.toMatch(consideredForInlining);
  });

  it('are set by main.ts right after the thread pool, before any of the service is imported', async () => {
    const main = await readFile(path.join(repoRoot, 'src/main.ts'), 'utf8');
    const imports = [...main.matchAll(/^import .*?['"](.+?)['"];$/gm)].map((m) => m[1]);
    expect(imports.slice(0, 2)).toEqual(['./threadpool.js', './v8Flags.js']);
  });
});
