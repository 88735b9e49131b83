import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const repoRoot = path.resolve(import.meta.dirname, '..');

/**
 * A loop hot enough for TurboFan, calling a callee of one line and one of
 * about a hundred bytes of bytecode; V8 names what it inlines on stdout
 * under --trace-turbo-inlining.
 */
const hotLoop = `
function mediumCallee(a, b) {
  let x = a;
  if (b > 3) x = x + b * 2; else x = x - b;
  if (x % 7 === 0) x += 1;
  if (x % 11 === 0) x += 2;
  if (x % 13 === 0) x += 3;
  if (x % 17 === 0) x += 4;
  return x;
}
function tinyCallee(a, b) { return a + b; }
function hotCaller(n) { let s = 0; for (let i = 0; i < n; i++) s = tinyCallee(mediumCallee(s, i), 1) & 0xffff; return s; }
let total = 0;
for (let k = 0; k < 3000; k++) total += hotCaller(1000);
if (total <= 0) throw new Error('unreachable');
`;

async function inliningTrace(importFlags: boolean): Promise<string> {
  const flagsModule = path.join(repoRoot, 'src/v8Flags.ts');
  const script = (importFlags ? `await import(${JSON.stringify(flagsModule)});\n` : '') + hotLoop;
  const { stdout } = await run(
    process.execPath,
    ['--trace-turbo-inlining', '--import', 'tsx', '--input-type=module', '-e', script],
    { cwd: repoRoot, timeout: 15_000 },
  );
  return stdout;
}

const inlined = (callee: string) => new RegExp(`Inlining .*SharedFunctionInfo ${callee}>.* into .*hotCaller`);

describe('V8 settings', () => {
  it('keep TurboFan inlining small functions only, once the module is imported', async () => {
    const [without, withFlags] = await Promise.all([inliningTrace(false), inliningTrace(true)]);
    // The control: by default this Node inlines both callees, so the check below can fail.
    expect(without).toMatch(inlined('mediumCallee'));
    expect(without).toMatch(inlined('tinyCallee'));
    expect(withFlags).toMatch(inlined('tinyCallee'));
    expect(withFlags).not.toMatch(inlined('mediumCallee'));
  });

  it('are set by main.ts right after the thread pool, before any of the service is imported', async () => {
    const main = await readFile(path.join(repoRoot, 'src/main.ts'), 'utf8');
    const imports = [...main.matchAll(/^import .*?['"](.+?)['"];$/gm)].map((m) => m[1]);
    expect(imports.slice(0, 2)).toEqual(['./threadpool.js', './v8Flags.js']);
  });
});
