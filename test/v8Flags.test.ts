import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runModuleScript } from './support/moduleScript.js';
import { repoRoot, unitNodeOptions } from './support/service.js';

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

/**
 * Objects promoted to old space, then all but one in twenty dropped, as a
 * burst of containers leaves them; prints old space's committed and used
 * MB after a full GC.
 */
const sparseOldSpace = `
import v8 from 'node:v8';
let all = [];
for (let i = 0; i < 300000; i++) all.push({ a: i, b: [i] });
gc(); gc();
const kept = all.filter((_, i) => i % 20 === 0);
all = null;
gc();
const old = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'old_space');
console.log(JSON.stringify({ committedMb: old.space_size / 2 ** 20, usedMb: old.space_used_size / 2 ** 20, kept: kept.length }));
`;

function runWithFlags(importFlags: boolean, nodeFlags: string[], body: string): Promise<string> {
  const flagsModule = path.join(repoRoot, 'src/v8Flags.ts');
  const script = (importFlags ? `await import(${JSON.stringify(flagsModule)});\n` : '') + body;
  return runModuleScript(script, nodeFlags);
}

const inliningTrace = (importFlags: boolean) =>
  runWithFlags(importFlags, ['--trace-turbo-inlining'], hotLoop);

async function oldSpaceAfterGc(importFlags: boolean): Promise<{ committedMb: number; usedMb: number }> {
  const stdout = await runWithFlags(importFlags, ['--expose-gc', unitSemiSpaceFlag()], sparseOldSpace);
  return JSON.parse(stdout) as { committedMb: number; usedMb: number };
}

/** The young generation's cap from the systemd unit, which decides what gets promoted. */
function unitSemiSpaceFlag(): string {
  const flag = /--max-semi-space-size=\d+/.exec(unitNodeOptions())?.[0];
  if (flag === undefined) throw new Error('the unit sets no --max-semi-space-size');
  return flag;
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

  it('make a full GC give back old-space pages that hold few live objects', async () => {
    const [without, withFlags] = await Promise.all([oldSpaceAfterGc(false), oldSpaceAfterGc(true)]);
    // The control: by default the sparse pages stay, so the check below can fail.
    expect(without.committedMb).toBeGreaterThan(3 * without.usedMb);
    expect(withFlags.committedMb).toBeLessThan(1.5 * withFlags.usedMb);
  });

  it('are set by main.ts first, before any of the service is imported', async () => {
    const main = await readFile(path.join(repoRoot, 'src/main.ts'), 'utf8');
    const imports = [...main.matchAll(/^import .*?['"](.+?)['"];$/gm)].map((m) => m[1]);
    expect(imports[0]).toBe('./v8Flags.js');
  });
});
