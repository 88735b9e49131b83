import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { runModuleScript } from './moduleScript.js';
import { repoRoot } from './service.js';

const run = promisify(execFile);

/** A process that makes `count` roots, mounts a tmpfs under the first if asked, prints them and ends. */
async function rootsOfAProcessThatEnded(count: number, mountUnderFirst: boolean) {
  const tempRoots = path.join(repoRoot, 'test/support/tempRoots.ts');
  const script = `
    import { execFileSync } from 'node:child_process';
    import fs from 'node:fs';
    const { temporaryRoot } = await import(${JSON.stringify(tempRoots)});
    const roots = Array.from({ length: ${count} }, () => temporaryRoot('hs-temproots-'));
    if (${mountUnderFirst}) {
      fs.mkdirSync(roots[0] + '/mounted');
      execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', roots[0] + '/mounted']);
    }
    console.log(JSON.stringify(roots));
  `;
  const stdout = await runModuleScript(script);
  const [first] = stdout.split('\n');
  return { roots: JSON.parse(first!) as string[], stdout };
}

describe('temporaryRoot', () => {
  it('removes every root a process made once it ends', async () => {
    const { roots } = await rootsOfAProcessThatEnded(3, false);
    expect(roots).toHaveLength(3);
    for (const root of roots) expect(fs.existsSync(root)).toBe(false);
  });

  it('leaves a root with something mounted under it, and says so', async () => {
    const { roots, stdout } = await rootsOfAProcessThatEnded(2, true);
    try {
      expect(fs.existsSync(path.join(roots[0]!, 'mounted'))).toBe(true);
      expect(stdout).toContain(`left ${roots[0]}: something is still mounted under it`);
      expect(fs.existsSync(roots[1]!)).toBe(false);
    } finally {
      await run('umount', [path.join(roots[0]!, 'mounted')]);
      fs.rmSync(roots[0]!, { recursive: true, force: true });
    }
  });
});
