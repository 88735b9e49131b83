import { spawn, spawnSync } from 'node:child_process';
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

  it('destroy ends what the engine left that names it only in its environment, and removes its folder', async () => {
    // As a `runc init` does whose container the engine never finished starting: it waits for good.
    const dir = fs.mkdtempSync('/tmp/hs-engine.');
    const leftover = spawn('sleep', ['300'], {
      env: { PATH: process.env['PATH'], _LIBCONTAINER_STATEDIR: path.join(dir, 'exec/runtime-runc/moby/c1') },
      stdio: 'ignore',
    });
    const ended = new Promise<NodeJS.Signals | null>((resolve) =>
      leftover.on('exit', (_code, signal) => resolve(signal)),
    );
    const destroy = spawnSync('bash', [path.join(repoRoot, 'scripts/test-engine.sh'), 'destroy', dir], {
      encoding: 'utf8',
      timeout: 15_000,
    });
    expect(destroy.status).toBe(0);
    expect(await ended).toBe('SIGKILL');
    expect(fs.existsSync(dir)).toBe(false);
  });
});
