/**
 * `make run` as a newcomer meets it, from a clean clone: start it, wait for
 * the banner, run the lines it suggests exactly as printed, Ctrl-C, run it
 * again in the same shell, Ctrl-C, `make clean`; then nothing it made is
 * left: no process, mount, bridge or file. It uses its own development engine
 * in the clone's .run/engine, never the tests' engine.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/api.js';
import { repoRoot } from '../support/service.js';
import { temporaryRoot } from '../support/tempRoots.js';
import { waitFor } from '../support/wait.js';

const run = promisify(execFile);

interface MakeRun {
  child: ChildProcess;
  lines: string[];
  exited: Promise<number | null>;
}

function makeRun(cwd: string, env: NodeJS.ProcessEnv): MakeRun {
  // Its own process group, as a terminal's foreground job: Ctrl-C reaches every process in it.
  const child = spawn('make', ['run'], { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  for (const stream of [child.stdout!, child.stderr!]) {
    readline.createInterface({ input: stream }).on('line', (line) => lines.push(line));
  }
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, lines, exited };
}

const waitForLine = (m: MakeRun, what: string, match: (l: string) => boolean, timeoutMs: number) =>
  waitFor(
    `make run: ${what}`,
    () => {
      if (m.child.exitCode !== null || m.child.signalCode !== null)
        throw new Error(`make run exited: ${m.lines.slice(-15).join('\n')}`);
      return m.lines.find(match);
    },
    timeoutMs,
    100,
  );

/** The indented lines after "try, in another shell:", as printed. */
function suggestedCommands(lines: string[]): string[] {
  const start = lines.findIndex((l) => l.endsWith('try, in another shell:'));
  const commands: string[] = [];
  for (const line of lines.slice(start + 1)) {
    if (!line.startsWith('    ')) break;
    commands.push(line.slice(4));
  }
  return commands;
}

/**
 * Other engines on this machine may hold the port the development engine hands
 * out first; it hands out the next one on a retry.
 */
async function runWithFreshPorts(script: string, cwd: string, env: NodeJS.ProcessEnv): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    try {
      return (await run('bash', ['-ec', script], { cwd, env })).stdout;
    } catch (error) {
      const stderr = String((error as { stderr?: string }).stderr);
      if (!stderr.includes('address already in use') || attempt >= 20) throw error;
    }
  }
}

async function interrupt(m: MakeRun): Promise<void> {
  process.kill(-m.child.pid!, 'SIGINT');
  await m.exited;
}

const clone = temporaryRoot('hs-makerun-');
const engineDir = path.join(clone, '.run/engine');
const bridge = `hs${createHash('sha1').update(engineDir).digest('hex').slice(0, 8)}`;
const running: MakeRun[] = [];

describe('make run, as a newcomer', () => {
  afterAll(async () => {
    // Whatever a failed run left: its processes, its engine, the clone.
    for (const m of running) {
      if (m.child.exitCode !== null || m.child.signalCode !== null) continue;
      try {
        process.kill(-m.child.pid!, 'SIGKILL');
      } catch {
        // The group ended meanwhile.
      }
    }
    await run(path.join(repoRoot, 'scripts/test-engine.sh'), ['destroy', engineDir]).catch(() => {});
    fs.rmSync(clone, { recursive: true, force: true });
  });

  it(
    'runs, takes the suggested commands, runs again, and make clean leaves nothing',
    { timeout: 900_000 },
    async () => {
      await run('git', ['clone', '--quiet', repoRoot, clone]);
      const port = await freePort();
      const shell: NodeJS.ProcessEnv = {
        PATH: process.env['PATH'],
        HOME: process.env['HOME'],
        HOST_SERVICE_PORT: String(port),
      };
      // A machine with its own engine on the default socket: point at the development engine, as the banner does.
      if (fs.existsSync('/var/run/docker.sock')) shell['DOCKER_HOST'] = `unix://${engineDir}/docker.sock`;

      const first = makeRun(clone, shell);
      running.push(first);
      // The first run installs the npm packages: minutes on a slow machine.
      await waitForLine(first, 'the API listening', (l) => l.includes('HTTPS API listening'), 600_000);
      expect(first.lines).toContain(
        'installing the npm packages (npm ci; about 40 s the first time, nothing after)',
      );
      const commands = suggestedCommands(first.lines);
      expect(commands[0]).toBe(`export DOCKER_HOST=unix://${engineDir}/docker.sock`);
      expect(commands.join('\n')).toContain('testwebserverauthsecretdev');

      // Other engines on this machine may hold the port the development engine hands out first; it hands out the next one on a retry.
      const output = await runWithFreshPorts(commands.join('\n'), clone, shell);
      expect(output).toMatch(/^\{"result":"DPI of container [0-9a-f]{64} set to 192"\}$/m);
      expect(output).toMatch(/^\.ready\nDPI\nhostPort_for_my_32262_tcp\ntty$/m);
      expect(output).toMatch(/^[0-9a-f]{12}\s+running\.idle\s+\d+\s+10\s+192\s/m);

      await interrupt(first);
      expect(first.lines.join('\n')).toContain('the development engine keeps running with its containers');

      // The same shell: DOCKER_HOST exported by the first suggested line.
      const again = { ...shell, DOCKER_HOST: `unix://${engineDir}/docker.sock` };
      const second = makeRun(clone, again);
      running.push(second);
      await waitForLine(second, 'the API listening', (l) => l.includes('HTTPS API listening'), 120_000);
      // Adopted as it was left: its folder kept, back in running with its TTY and DPI.
      await waitForLine(
        second,
        'the container adopted again',
        (l) => l.includes('DPI written; the container is ready'),
        30_000,
      );
      // Cleaning up under a running service would take its engine away: refused, and nothing removed.
      const refused = await run('make', ['clean'], { cwd: clone, env: again }).then(
        () => 'make clean succeeded',
        (error: unknown) => String((error as { stderr?: string }).stderr),
      );
      expect(refused).toMatch(
        /make clean: the service that make run started \(pid \d+\) is still running; stop it first/,
      );
      expect(fs.existsSync(path.join(engineDir, 'docker.sock'))).toBe(true);
      // A second service on the same folders and engine: refused too, before a build would replace the
      // running bundle, and the first one keeps its guard.
      const bundle = path.join(clone, 'build/ecs-host-service');
      const bundleBefore = fs.statSync(bundle).mtimeMs;
      const third = await run('make', ['run'], { cwd: clone, env: again }).then(
        () => 'make run succeeded',
        (error: unknown) => String((error as { stderr?: string }).stderr),
      );
      expect(third).toMatch(/make run: the service that make run started \(pid \d+\) is still running/);
      expect(fs.statSync(bundle).mtimeMs).toBe(bundleBefore);
      await expect(run('make', ['stop'], { cwd: clone, env: again })).rejects.toThrow(/still running/);
      expect(second.child.exitCode).toBeNull();
      await interrupt(second);

      await run('make', ['clean'], { cwd: clone, env: again });
      const mounts = fs.readFileSync('/proc/mounts', 'utf8');
      expect(mounts.split('\n').filter((l) => l.includes(clone))).toEqual([]);
      const bridges = (await run('ip', ['-br', 'link', 'show', 'type', 'bridge'])).stdout;
      expect(bridges.split('\n').map((l) => l.split(/\s+/)[0])).not.toContain(bridge);
      const processes = fs
        .readdirSync('/proc')
        .filter((p) => /^\d+$/.test(p))
        .map((p) => {
          try {
            return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').replaceAll('\0', ' ');
          } catch {
            return '';
          }
        })
        .filter((args) => args.includes(clone));
      expect(processes).toEqual([]);
      // Only the npm packages are left, as after a plain `npm ci`.
      const leftovers = (await run('git', ['status', '--porcelain', '--ignored'], { cwd: clone })).stdout;
      expect(leftovers.trim().split('\n')).toEqual(['!! node_modules/']);
    },
  );
});
