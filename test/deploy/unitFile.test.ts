/**
 * The systemd unit as systemd itself reads it: `systemd-analyze verify` on a
 * scratch root that holds the unit, the executable it starts and systemd's
 * own units (no running systemd needed). verify exits 0 on many problems
 * (an unknown KillMode is only a warning), so any output at all fails.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { repoRoot, unitMallocSettings, unitNodeOptions } from '../support/service.js';

const run = promisify(execFile);
const UNIT = 'ecs-host-service.service';
const SYSTEM_UNITS = '/usr/lib/systemd/system';

function scratchRoot(unitText: string): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'hs-unit-'));
  fs.mkdirSync(path.join(root, 'usr/local/bin'), { recursive: true });
  fs.mkdirSync(path.join(root, 'etc/systemd/system'), { recursive: true });
  fs.mkdirSync(path.join(root, 'usr/lib/systemd'), { recursive: true });
  fs.writeFileSync(path.join(root, 'usr/local/bin/ecs-host-service'), '#!/bin/sh\n', { mode: 0o755 });
  fs.writeFileSync(path.join(root, 'etc/systemd/system', UNIT), unitText);
  fs.cpSync(SYSTEM_UNITS, path.join(root, 'usr/lib/systemd/system'), { recursive: true });
  return root;
}

async function verify(unitText: string): Promise<string> {
  const root = scratchRoot(unitText);
  try {
    const { stdout, stderr } = await run('systemd-analyze', [
      'verify',
      '--man=no',
      `--root=${root}`,
      `/etc/systemd/system/${UNIT}`,
    ]).catch((error: { stdout?: string; stderr?: string; message: string }) => ({
      stdout: error.stdout ?? '',
      stderr: error.stderr ?? error.message,
    }));
    return (stdout + stderr).trim();
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

describe('deploy/ecs-host-service.service', () => {
  const unitText = fs.readFileSync(path.join(repoRoot, 'deploy', UNIT), 'utf8');

  it('passes systemd-analyze verify without a word', async () => {
    expect(fs.existsSync(SYSTEM_UNITS), 'systemd is missing: scripts/install-deps.sh installs it').toBe(true);
    expect(await verify(unitText)).toBe('');
  });

  it('would be caught with a setting systemd does not know', async () => {
    expect(await verify(unitText.replace('KillMode=mixed', 'KillMode=mixd'))).toContain('kill mode');
  });

  // Node refuses the whole process over one option it does not allow in NODE_OPTIONS.
  it('gives Node options that Node takes from NODE_OPTIONS, and applies them', async () => {
    const options = unitNodeOptions();
    expect(options).toMatch(/--max-semi-space-size=\d+/);
    const { stdout } = await run(
      process.execPath,
      [
        '-p',
        "require('node:v8').getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size",
      ],
      { env: { PATH: process.env['PATH'] ?? '', NODE_OPTIONS: options } },
    );
    const semiSpaceMb = Number(/--max-semi-space-size=(\d+)/.exec(options)![1]);
    // The young generation is two semi-spaces (three in some V8 versions), never the default 32 MB.
    expect(Number(stdout) / 2 ** 20).toBeLessThanOrEqual(3 * semiSpaceMb);
    await expect(
      run(process.execPath, ['-e', '0'], { env: { NODE_OPTIONS: `${options} --trace-gc` } }),
    ).rejects.toThrow(/not allowed in NODE_OPTIONS/);
  });

  it("gives V8's background work one thread, not Node's default four", async () => {
    const options = unitNodeOptions();
    expect(options).toMatch(/--v8-pool-size=1(\s|$)/);
    // V8 starts its workers with the process; libuv's pool only at its first call, which this makes none of.
    const threads = async (nodeOptions: string) => {
      const { stdout } = await run(
        process.execPath,
        [
          '-e',
          "setTimeout(() => console.log(require('node:fs').readdirSync('/proc/self/task').length), 200)",
        ],
        { env: { PATH: process.env['PATH'] ?? '', NODE_OPTIONS: nodeOptions } },
      );
      return Number(stdout);
    };
    const withoutPoolSize = options.replace(/--v8-pool-size=\d+/, '').trim();
    expect(await threads(options)).toBe((await threads(withoutPoolSize)) - 3);
  });

  // glibc ignores a variable it does not know, so a misspelt one would change nothing, silently.
  it("pins glibc's mmap threshold, which a large block freed would otherwise raise", async () => {
    const settings = unitMallocSettings();
    expect(settings).toEqual({ MALLOC_MMAP_THRESHOLD_: '131072' });
    const givenBackKb = async (env: Record<string, string>) => {
      const program = path.join(repoRoot, 'test/deploy/memoryGivenBack.mjs');
      const { stdout } = await run(process.execPath, ['--expose-gc', program], {
        env: { PATH: process.env['PATH'] ?? '', ...env },
      });
      return Number(stdout);
    };
    // Of the twenty blocks' 5,120 kB: about none without the setting, about all with it.
    expect(await givenBackKb({})).toBeLessThan(1024);
    expect(await givenBackKb(settings)).toBeGreaterThan(4096);
  });
});
