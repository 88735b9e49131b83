/**
 * What scripts/build.mjs leaves out of the bundle, and how: each part the
 * service never uses is replaced by a stub that fails with a clear error if
 * it is ever reached. Built into a scratch folder, like a release.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, startService } from '../support/service.js';
import { waitFor } from '../support/wait.js';

const run = promisify(execFile);
const undiciProbe = path.join(repoRoot, 'test/release/undiciProbe.mjs');

describe('the development bundle', () => {
  let dir: string;
  let bundle: string;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hs-bundle-'));
    await run(process.execPath, [path.join(repoRoot, 'scripts/build.mjs')], {
      cwd: repoRoot,
      env: { ...process.env, BUILD_DIR: dir, BUILD_ENV: 'development', BUILD_ANALYZE: '' },
    });
    bundle = fs.readFileSync(path.join(dir, 'ecs-host-service'), 'utf8');
  }, 60_000);
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('holds the stubs, not gRPC, ssh2, mime-db, protobufjs or zod’s other languages', () => {
    expect(bundle).toContain('BuildKit sessions are not part of the host service build');
    expect(bundle).toContain('BuildKit image builds are not part of the host service build');
    expect(bundle).toContain('ssh:// Docker hosts are not supported by the host service build');
    expect(bundle).toContain('multipart form bodies are not part of the host service build');
    // A line of each left-out package's own code or data.
    expect(bundle).not.toContain('grpc-node-js/');
    expect(bundle).not.toContain('SSH-2.0-');
    expect(bundle).not.toContain('application/vnd.openxmlformats');
    expect(bundle).not.toContain('moby.buildkit');
    expect(bundle).not.toContain('Kreditkartennummer');
    // English stays: zod's default, and the language of every message the service writes.
    expect(bundle).toContain('Invalid input');
  });

  it('holds only the rxjs operators the service uses (rxjs’s ES build)', () => {
    expect(bundle).toContain('function exhaustMap(');
    expect(bundle).not.toContain('function bufferToggle(');
    expect(bundle).not.toContain('VirtualTimeScheduler');
  });

  it('starts, serves and stops without loading Node’s fetch (undici): axios’s probes of it are patched out', async () => {
    const service = await startService({
      executable: path.join(dir, 'ecs-host-service'),
      nodeFlags: ['--import', undiciProbe],
      // No engine: the API listens all the same, and nothing here needs one.
      env: { DOCKER_HOST: 'unix:///nonexistent/docker.sock' },
      waitForEngine: false,
    });
    await service.waitForLog('the API listening', (l) => l.msg === 'HTTPS API listening');
    expect(await service.stop()).toBe(0);
    // The probe's line is the process's last output: it may be read just after the exit.
    const probed = await waitFor('the probe', () =>
      service.otherOutput.find((l) => l.startsWith('undici loaded')),
    );
    expect(probed).toContain('undici loaded: false');
  }, 30_000);

  it('has a probe for undici that sees it loaded', async () => {
    const { stderr } = await run(process.execPath, ['--import', undiciProbe, '-e', 'void FormData']);
    expect(stderr).toContain('undici loaded: true');
  });

  it('is ASCII only and without line breaks inside code', () => {
    expect([...bundle].every((character) => character.charCodeAt(0) < 0x80)).toBe(true);
    // The banner's three lines, then the code on a few long lines (esbuild keeps some breaks).
    expect(bundle.split('\n').length).toBeLessThan(1000);
  });
});
