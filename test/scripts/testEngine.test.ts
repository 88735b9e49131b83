import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../support/service.js';
import { temporaryRoot } from '../support/tempRoots.js';

const engineFolders = () => new Set(fs.readdirSync('/tmp').filter((name) => name.startsWith('hs-engine.')));

describe('scripts/test-engine.sh', () => {
  it('refuses to run without dockerd (or root), says why, and leaves no engine folder behind', () => {
    // Every command of this machine but dockerd.
    const bin = temporaryRoot('hs-nodockerd-');
    const linked = new Set(['dockerd']);
    for (const dir of ['/usr/sbin', '/usr/bin', '/sbin', '/bin']) {
      for (const name of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
        if (linked.has(name)) continue;
        linked.add(name);
        fs.symlinkSync(path.join(dir, name), path.join(bin, name));
      }
    }
    const before = engineFolders();
    const run = spawnSync('bash', [path.join(repoRoot, 'scripts/test-engine.sh'), 'run', '--', 'true'], {
      env: { PATH: bin },
      encoding: 'utf8',
    });
    expect(run.status).toBe(1);
    // Root is checked first: a run of the unit tests as another user meets that refusal instead.
    const why = process.getuid?.() === 0 ? 'dockerd is missing' : 'a private Docker engine needs root';
    expect(run.stderr).toContain(`test-engine: ${why}`);
    expect([...engineFolders()].filter((name) => !before.has(name))).toEqual([]);
  });
});
