/**
 * `make release` against a real S3-compatible server and a Sentry stand-in
 * on 127.0.0.1: what lands in the bucket and in Sentry, that a failed release
 * leaves latest/ where it was, that the artifact runs where there is no
 * Node.js, and that a host installs it with deploy/install-from-s3.sh. The
 * production artifact is built once, by the first `make release`.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeHostRoot } from '../deploy/installScript.js';
import { repoRoot, startService, unitNodeOptions, type LogLine } from '../support/service.js';
import { temporaryRoot } from '../support/tempRoots.js';
import { cleanEnv, runCommand, type Ran } from './run.js';
import { startS3Server, type S3Server } from './s3Server.js';
import { seedRelease } from './seedRelease.js';
import { SENTRY_ORG, SENTRY_PROJECT, startSentryApiStandIn, type SentryApiStandIn } from './sentryApi.js';

const BUCKET = 'releases';
const FAILING_BUCKET = 'releases-failing';
const NAMES = ['build-info.json', 'ecs-host-service', 'ecs-host-service.service', 'ecs-host-service.sha256'];

const token = `sntrys_${randomBytes(16).toString('hex')}`;
const prodSecret = `prod-secret-${randomBytes(8).toString('hex')}`;

let s3: S3Server;
let sentry: SentryApiStandIn;
let buildDir: string;
let released: Ran;
let commit: string;

function releaseEnv(bucket: string): NodeJS.ProcessEnv {
  return cleanEnv({
    ...s3.env,
    ...sentry.envWith(token),
    RELEASE_BUCKET: bucket,
    BUILD_DIR: buildDir,
    HOST_SERVICE_AUTH_SECRET_PROD: prodSecret,
  });
}

/** The step `make release` runs after `make build-prod`, on the artifact already built. */
const publishAgain = (bucket: string) =>
  runCommand('npx', ['tsx', 'scripts/release/main.ts'], { cwd: repoRoot, env: releaseEnv(bucket) });

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

function expectedCommit(): string {
  const head = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' }).trim();
  const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], {
    cwd: repoRoot,
    encoding: 'utf8',
  });
  return dirty.trim() === '' ? head : `${head}-dirty`;
}

beforeAll(async () => {
  s3 = await startS3Server([BUCKET, FAILING_BUCKET]);
  sentry = await startSentryApiStandIn();
  // Beside, not in, build/: the other integration tests run build/ecs-host-service with node.
  buildDir = temporaryRoot('hs-release-');
  commit = expectedCommit();
  released = await runCommand('make', ['--no-print-directory', 'release'], {
    cwd: repoRoot,
    env: releaseEnv(BUCKET),
  });
}, 600_000);

afterAll(async () => {
  await s3?.close();
  await sentry?.close();
  if (buildDir) fs.rmSync(buildDir, { recursive: true, force: true });
});

describe('make release', () => {
  it('puts the executable, its unit, checksums and build-info under <commit>/ and latest/', async () => {
    expect(released.stderr).not.toMatch(/release: failed/);
    expect(released.code).toBe(0);
    expect(await s3.keys(BUCKET)).toEqual([
      ...NAMES.map((n) => `${commit}/${n}`),
      ...NAMES.map((n) => `latest/${n}`),
    ]);
    for (const name of NAMES) {
      // Digests, not the bytes: a deep comparison of a 90 MB buffer takes minutes.
      const local = sha256(fs.readFileSync(path.join(buildDir, name)));
      expect(sha256(await s3.read(BUCKET, `${commit}/${name}`)), name).toBe(local);
      expect(sha256(await s3.read(BUCKET, `latest/${name}`)), `latest/${name}`).toBe(local);
    }
    expect((await s3.read(BUCKET, `${commit}/ecs-host-service.service`)).toString()).toBe(
      fs.readFileSync(path.join(repoRoot, 'deploy/ecs-host-service.service'), 'utf8'),
    );
  });

  it('writes checksums of what it uploaded, in sha256sum format', async () => {
    const executable = await s3.read(BUCKET, `${commit}/ecs-host-service`);
    const unit = await s3.read(BUCKET, `${commit}/ecs-host-service.service`);
    expect((await s3.read(BUCKET, `${commit}/ecs-host-service.sha256`)).toString()).toBe(
      `${sha256(executable)}  ecs-host-service\n${sha256(unit)}  ecs-host-service.service\n`,
    );
    const checked = await runCommand('sha256sum', ['--check', '--strict', 'ecs-host-service.sha256'], {
      cwd: buildDir,
    });
    expect(checked.code).toBe(0);
  });

  it('writes build-info.json with the commit, the build time, the Node version and the size', async () => {
    const info = JSON.parse((await s3.read(BUCKET, `latest/build-info.json`)).toString()) as Record<
      string,
      unknown
    >;
    const executable = await s3.read(BUCKET, `${commit}/ecs-host-service`);
    expect(info).toEqual({
      commit,
      builtAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      node: process.version,
      size: executable.length,
      sha256: sha256(executable),
    });
    const version = await runCommand(path.join(buildDir, 'ecs-host-service'), ['--version']);
    expect(version.stdout).toBe(
      `ecs-host-service commit ${commit} built ${String(info['builtAt'])} node ${process.version}\n`,
    );
  });

  it('creates the Sentry release with the bundle and its map, then the deploy', () => {
    const requests = sentry.requests.map((r) => `${r.method} ${r.path}`);
    const base = `/api/0/organizations/${SENTRY_ORG}/releases/`;
    expect(requests).toEqual([
      `POST ${base}`,
      `POST ${base}${commit}/files/`,
      `POST ${base}${commit}/files/`,
      `POST ${base}${commit}/deploys/`,
    ]);
    const [created, bundle, map, deploy] = sentry.requests;
    expect(JSON.parse(created!.body)).toEqual({ version: commit, projects: [SENTRY_PROJECT] });
    expect(bundle!.body).toContain('name="name"\r\n\r\n~/ecs-host-service.cjs\r\n');
    expect(bundle!.body).toContain('Sourcemap: ecs-host-service.cjs.map');
    expect(map!.body).toContain('name="name"\r\n\r\n~/ecs-host-service.cjs.map\r\n');
    expect(map!.body).toContain('"mappings":"');
    expect(map!.body).toContain('src/main.ts');
    // The auth secrets are in the executable only, never in what Sentry keeps.
    expect(fs.readFileSync(path.join(buildDir, 'sea/ecs-host-service.cjs'), 'utf8')).toContain(prodSecret);
    expect(bundle!.body).not.toContain(prodSecret);
    expect(map!.body).not.toContain(prodSecret);
    expect(JSON.parse(deploy!.body)).toEqual({ environment: 'production' });
  });

  it('sends the Sentry token in the Authorization header only, and never logs it', () => {
    for (const request of sentry.requests) {
      const { authorization, ...otherHeaders } = request.headers;
      expect(authorization).toBe(`Bearer ${token}`);
      expect(JSON.stringify(otherHeaders)).not.toContain(token);
      expect(request.path).not.toContain(token);
      expect(request.body).not.toContain(token);
    }
    expect(released.stdout).toContain(`release: s3://${BUCKET}/latest/ now holds ${commit}`);
    expect(released.stdout + released.stderr).not.toContain(token);
    expect(released.stdout + released.stderr).not.toContain(prodSecret);
  });
});

describe('a failed release', () => {
  const latestCommit = async () =>
    (JSON.parse((await s3.read(FAILING_BUCKET, 'latest/build-info.json')).toString()) as { commit: string })
      .commit;

  beforeAll(async () => {
    await seedRelease(s3.client, FAILING_BUCKET, 'previous-release', { latest: true });
  });

  it('leaves latest/ at the previous release when the bucket refuses one object', async () => {
    const deploysBefore = sentry.requests.filter((r) => r.path.endsWith('/deploys/')).length;
    s3.refuse((r) => r.method === 'PUT' && r.path === `/${FAILING_BUCKET}/${commit}/ecs-host-service.sha256`);
    const ran = await publishAgain(FAILING_BUCKET).finally(() => s3.refuse(undefined));
    expect(ran.code).toBe(1);
    expect(ran.stderr).toMatch(
      /release: failed \(latest\/ still names the previous release\): .*Access Denied/,
    );
    expect(s3.refused).toHaveLength(1);
    // Halfway: the executable went up before the refusal.
    expect(await s3.keys(FAILING_BUCKET, `${commit}/`)).toEqual([
      `${commit}/ecs-host-service`,
      `${commit}/ecs-host-service.service`,
    ]);
    expect(await latestCommit()).toBe('previous-release');
    expect((await s3.read(FAILING_BUCKET, 'latest/ecs-host-service')).toString()).toContain(
      'previous-release',
    );
    expect(sentry.requests.filter((r) => r.path.endsWith('/deploys/'))).toHaveLength(deploysBefore);
  });

  it('leaves latest/ at the previous release when Sentry fails, and does not log the token', async () => {
    sentry.failWith(503);
    const ran = await publishAgain(FAILING_BUCKET).finally(() => sentry.failWith(undefined));
    expect(ran.code).toBe(1);
    expect(ran.stderr).toMatch(
      /release: failed \(latest\/ still names the previous release\): Sentry API POST releases\/ failed: 503/,
    );
    expect(ran.stdout + ran.stderr).not.toContain(token);
    expect(await latestCommit()).toBe('previous-release');
    expect((await s3.read(FAILING_BUCKET, 'latest/ecs-host-service')).toString()).toContain(
      'previous-release',
    );
  });

  it('leaves latest/build-info.json, which names the release there, at the previous one when its copy fails', async () => {
    s3.refuse((r) => r.method === 'PUT' && r.path === `/${FAILING_BUCKET}/latest/build-info.json`);
    const ran = await publishAgain(FAILING_BUCKET).finally(() => s3.refuse(undefined));
    expect(ran.code).toBe(1);
    expect(await latestCommit()).toBe('previous-release');
    // What a host installs from latest/ is still the previous release, whole.
    const host = makeHostRoot();
    try {
      const installed = await host.install([], { ...s3.env, RELEASE_BUCKET: FAILING_BUCKET });
      expect(installed.stderr).toBe('');
      expect(installed.stdout).toContain('installed release previous-release');
      expect(fs.readFileSync(host.executable, 'utf8')).toContain('previous-release');
    } finally {
      fs.rmSync(host.root, { recursive: true, force: true });
    }
  });
});

/**
 * The released executable run as the service in development, under
 * `nodeOptions`, until its first log line (which says how it compiled its
 * code), then stopped: that line, and whatever it wrote that was not a log
 * line (stderr included) until then.
 */
async function firstLogLine(nodeOptions: string): Promise<{ line: LogLine; otherOutput: string[] }> {
  const service = await startService({
    singleExecutable: path.join(buildDir, 'ecs-host-service'),
    env: { NODE_OPTIONS: nodeOptions },
    waitForEngine: false,
  });
  try {
    const line = await service.waitForLog('the first line', () => true);
    return { line, otherOutput: [...service.otherOutput] };
  } finally {
    // Its signal handlers may not be in place yet; nothing of it is kept but its root.
    await service.stop('SIGKILL');
  }
}

describe('the released artifact', () => {
  // A single executable runs its main as a CommonJS script, strict only if
  // its first statement says so; the development build every other test runs
  // is an ES module, always strict. Hosts must run the code as tested.
  it('runs its bundle as strict code: the directive is its first statement', () => {
    const bundle = fs.readFileSync(path.join(buildDir, 'sea/ecs-host-service.cjs'), 'utf8');
    expect(bundle.slice(0, '"use strict";'.length)).toBe('"use strict";');
  });

  // Compiling the 1.6 MB bundle from source was about 50-65 ms of every start (bench/MEASUREMENTS.md,
  // "The bundle's code compiled at build time").
  it("runs the code V8 compiled at build time under the unit's Node options, and compiles from source, without a word, under others", async () => {
    const asOnHosts = await firstLogLine(unitNodeOptions());
    expect(asOnHosts.line['msg']).toBe('host service starting');
    expect(asOnHosts.line['codeCache']).toBe('taken');
    expect(asOnHosts.otherOutput).toEqual([]);

    const otherFlags = await firstLogLine('--max-semi-space-size=4');
    expect(otherFlags.line['msg']).toBe('host service starting');
    expect(otherFlags.line['codeCache']).toBe('rejected');
    expect(otherFlags.otherOutput).toEqual([]);
  });

  // Node 20 loses a dynamic import's callback for code compiled from a cache: an `import()` left in
  // the bundle would fail on hosts only ("A dynamic import callback was not specified"), while the
  // development build, an ES module compiled from source, runs it.
  it('holds no import() in its bundle: the build turned each into a require', () => {
    const bundle = fs.readFileSync(path.join(buildDir, 'sea/ecs-host-service.cjs'), 'utf8');
    expect(bundle).toContain('require("node:inspector")');
    expect(bundle).not.toMatch(/\bimport\(/);
  });

  it('is made again byte for byte, code cache included, from its commit and its build time', async () => {
    const info = JSON.parse((await s3.read(BUCKET, 'latest/build-info.json')).toString()) as {
      builtAt: string;
    };
    // Whole seconds, as SOURCE_DATE_EPOCH names them: the README's recipe can reproduce this release.
    expect(Number.isInteger(Date.parse(info.builtAt) / 1000)).toBe(true);
    const again = temporaryRoot('hs-rebuild-');
    try {
      const rebuilt = await runCommand('node', ['scripts/build.mjs'], {
        cwd: repoRoot,
        env: {
          ...releaseEnv(BUCKET),
          BUILD_ENV: 'production',
          BUILD_DIR: again,
          SOURCE_DATE_EPOCH: String(Date.parse(info.builtAt) / 1000),
        },
      });
      expect(rebuilt.code).toBe(0);
      const cache = (dir: string) => fs.readFileSync(path.join(dir, 'sea/ecs-host-service.cjs.cache'));
      expect(cache(buildDir).length).toBeGreaterThan(100_000);
      expect(sha256(cache(again))).toBe(sha256(cache(buildDir)));
      expect(sha256(fs.readFileSync(path.join(again, 'ecs-host-service')))).toBe(
        sha256(fs.readFileSync(path.join(buildDir, 'ecs-host-service'))),
      );
    } finally {
      fs.rmSync(again, { recursive: true, force: true });
    }
  }, 120_000);

  it('runs with no Node.js: in an image of only what ldd names, plus busybox', async () => {
    const executable = path.join(buildDir, 'ecs-host-service');
    const rootfs = temporaryRoot('hs-sea-rootfs-');
    const image = `hs-sea-only:${process.pid}`;
    try {
      const libraries = execFileSync('ldd', [executable], { encoding: 'utf8' })
        .split('\n')
        .map((line) => /(\/\S+) \(0x/.exec(line)?.[1])
        .filter((lib): lib is string => lib !== undefined);
      expect(libraries).toContain('/lib64/ld-linux-x86-64.so.2');
      for (const lib of libraries) {
        fs.mkdirSync(path.join(rootfs, path.dirname(lib)), { recursive: true });
        fs.copyFileSync(lib, path.join(rootfs, lib));
      }
      fs.mkdirSync(path.join(rootfs, 'bin'));
      fs.copyFileSync(
        execFileSync('sh', ['-c', 'command -v busybox'], { encoding: 'utf8' }).trim(),
        path.join(rootfs, 'bin/busybox'),
      );
      fs.copyFileSync(executable, path.join(rootfs, 'ecs-host-service'));
      fs.chmodSync(path.join(rootfs, 'ecs-host-service'), 0o755);
      fs.chmodSync(path.join(rootfs, 'bin/busybox'), 0o755);
      const imported = await runCommand('sh', ['-c', `tar -C '${rootfs}' -c . | docker import - '${image}'`]);
      expect(imported.stderr).toBe('');
      expect(imported.code).toBe(0);

      const noNode = await runCommand('docker', [
        'run',
        '--rm',
        '--network',
        'none',
        image,
        '/bin/busybox',
        'find',
        '/',
        '-xdev',
        '-name',
        'node*',
        '-o',
        '-name',
        'libnode*',
      ]);
      expect(noNode.code).toBe(0);
      expect(noNode.stdout).toBe('');

      const version = await runCommand('docker', [
        'run',
        '--rm',
        '--network',
        'none',
        image,
        '/ecs-host-service',
        '--version',
      ]);
      expect(version.stderr).toBe('');
      expect(version.code).toBe(0);
      expect(version.stdout).toMatch(
        new RegExp(`^ecs-host-service commit ${commit} built \\S+ node ${process.version}\\n$`),
      );
    } finally {
      fs.rmSync(rootfs, { recursive: true, force: true });
      await runCommand('docker', ['image', 'rm', '-f', image]);
    }
  });

  it('installs on a host from latest/ with deploy/install-from-s3.sh and runs there', async () => {
    const host = makeHostRoot();
    try {
      const installed = await host.install([], { ...s3.env, RELEASE_BUCKET: BUCKET });
      expect(installed.stderr).toBe('');
      expect(installed.stdout).toContain(`installed release ${commit}`);
      expect(sha256(fs.readFileSync(host.executable))).toBe(
        sha256(fs.readFileSync(path.join(buildDir, 'ecs-host-service'))),
      );
      expect(host.systemctlCalls()).toEqual(['daemon-reload', 'enable --now ecs-host-service.service']);
      const version = await runCommand(host.executable, ['--version']);
      expect(version.stdout).toContain(`commit ${commit}`);
    } finally {
      fs.rmSync(host.root, { recursive: true, force: true });
    }
  });
});
