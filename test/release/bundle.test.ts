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
import { repoRoot } from '../support/service.js';

const run = promisify(execFile);

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

  it('holds the stubs, not gRPC, ssh2 or mime-db', () => {
    expect(bundle).toContain('BuildKit sessions are not part of the host service build');
    expect(bundle).toContain('ssh:// Docker hosts are not supported by the host service build');
    expect(bundle).toContain('multipart form bodies are not part of the host service build');
    // A line of each left-out package's own code or data.
    expect(bundle).not.toContain('grpc-node-js/');
    expect(bundle).not.toContain('SSH-2.0-');
    expect(bundle).not.toContain('application/vnd.openxmlformats');
  });

  it('is ASCII only and without line breaks inside code', () => {
    expect([...bundle].every((character) => character.charCodeAt(0) < 0x80)).toBe(true);
    // The banner's three lines, then the code on a few long lines (esbuild keeps some breaks).
    expect(bundle.split('\n').length).toBeLessThan(1000);
  });
});
