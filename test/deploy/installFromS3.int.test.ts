/**
 * deploy/install-from-s3.sh against a real S3-compatible server with
 * Debian's AWS CLI: a fresh install, the no-op second run, a tampered object
 * and a missing release (both refused, nothing changed), and an upgrade.
 */
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startS3Server, type S3Server } from '../release/s3Server.js';
import { scriptExecutable, seedRelease } from '../release/seedRelease.js';
import { DEBIAN_AWS, makeHostRoot, type HostRoot } from './installScript.js';

const BUCKET = 'host-releases';

let s3: S3Server;
let host: HostRoot;
let env: Record<string, string>;

beforeAll(async () => {
  // A missing tool fails the run here, loudly (scripts/install-deps.sh awscli installs it).
  expect(fs.existsSync(DEBIAN_AWS), `${DEBIAN_AWS} (Debian package awscli) is missing`).toBe(true);
  s3 = await startS3Server([BUCKET]);
  host = makeHostRoot();
  env = { ...s3.env, RELEASE_BUCKET: BUCKET };
  await seedRelease(s3.client, BUCKET, 'release-one', { latest: true });
});

afterAll(async () => {
  await s3?.close();
  if (host) fs.rmSync(host.root, { recursive: true, force: true });
});

const oneLine = (text: string) => text.split('\n').filter((l) => l.trim() !== '');

describe('install-from-s3.sh', () => {
  it('installs latest/ into an empty root and enables the unit', async () => {
    const ran = await host.install([], env);
    expect(ran.stderr).toBe('');
    expect(ran.code).toBe(0);
    expect(ran.stdout).toContain('installed release release-one');
    expect(fs.readFileSync(host.executable)).toEqual(scriptExecutable('release-one'));
    expect(fs.statSync(host.executable).mode & 0o777).toBe(0o755);
    expect(fs.readFileSync(host.unit, 'utf8')).toContain('# release release-one');
    expect(host.systemctlCalls()).toEqual(['daemon-reload', 'enable --now ecs-host-service.service']);
  });

  it('changes nothing when run again with the same release', async () => {
    const before = fs.statSync(host.executable).mtimeMs;
    const ran = await host.install([], env);
    expect(ran.code).toBe(0);
    expect(ran.stdout).toContain('release release-one is already installed');
    expect(fs.statSync(host.executable).mtimeMs).toBe(before);
    expect(host.systemctlCalls()).toHaveLength(2);
  });

  it('refuses a tampered executable with one line and keeps the installed one', async () => {
    await seedRelease(s3.client, BUCKET, 'release-tampered', { tamperExecutable: true });
    const ran = await host.install(['release-tampered'], env);
    expect(ran.code).toBe(1);
    expect(oneLine(ran.stderr)).toEqual([
      'install-from-s3: release release-tampered: checksum mismatch (the downloaded files are not the ones released); the installed service is unchanged',
    ]);
    expect(fs.readFileSync(host.executable)).toEqual(scriptExecutable('release-one'));
    expect(host.systemctlCalls()).toHaveLength(2);
  });

  it('refuses a release that is not in the bucket with one line and changes nothing', async () => {
    const ran = await host.install(['no-such-release'], env);
    expect(ran.code).toBe(1);
    const lines = oneLine(ran.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^install-from-s3: could not download s3:\/\/host-releases\/no-such-release\/ecs-host-service \(.+\); the installed service is unchanged$/,
    );
    expect(fs.readFileSync(host.executable)).toEqual(scriptExecutable('release-one'));
    expect(host.systemctlCalls()).toHaveLength(2);
  });

  it('refuses with one line when the bucket does not answer', async () => {
    const ran = await host.install([], { ...env, AWS_ENDPOINT_URL: 'http://127.0.0.1:9' });
    expect(ran.code).toBe(1);
    expect(oneLine(ran.stderr)).toHaveLength(1);
    expect(ran.stderr).toMatch(
      /^install-from-s3: could not download s3:\/\/host-releases\/latest\/build-info\.json/,
    );
    expect(fs.readFileSync(host.executable)).toEqual(scriptExecutable('release-one'));
  });

  it('upgrades in place to a new latest/ and restarts the unit', async () => {
    await seedRelease(s3.client, BUCKET, 'release-two', {
      latest: true,
      unit: '[Service]\nExecStart=/usr/local/bin/ecs-host-service\n# release release-two\n',
    });
    const ran = await host.install([], env);
    expect(ran.stderr).toBe('');
    expect(ran.code).toBe(0);
    expect(ran.stdout).toContain('upgraded to release release-two');
    expect(fs.readFileSync(host.executable)).toEqual(scriptExecutable('release-two'));
    expect(fs.readFileSync(host.unit, 'utf8')).toContain('# release release-two');
    expect(host.systemctlCalls().slice(2)).toEqual([
      'daemon-reload',
      'enable ecs-host-service.service',
      'restart ecs-host-service.service',
    ]);
    expect(fs.readdirSync(host.root + '/usr/local/bin')).toEqual(['ecs-host-service']);
  });
});
