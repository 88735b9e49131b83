/**
 * A release put straight into the bucket, laid out as `make release` lays
 * one out (scripts/release/), from files the test chooses: small stand-in
 * executables for the install script's tests, a "previous release" for the
 * failure tests.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import {
  BUILD_INFO,
  CHECKSUMS,
  EXECUTABLE,
  UNIT,
  sha256Of,
  type BuildInfo,
} from '../../scripts/release/artifact.js';
import { pointLatestAt, uploadRelease } from '../../scripts/release/s3.js';

export interface SeededRelease {
  commit: string;
  executable: Buffer;
  unit: string;
  buildInfo: BuildInfo;
}

/** An executable that says which release it is. */
export function scriptExecutable(commit: string): Buffer {
  return Buffer.from(
    `#!/bin/sh\necho "ecs-host-service commit ${commit} built 2000-01-01T00:00:00.000Z node v0"\n`,
  );
}

export async function seedRelease(
  client: S3Client,
  bucket: string,
  commit: string,
  options: { unit?: string; latest?: boolean; tamperExecutable?: boolean } = {},
): Promise<SeededRelease> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hs-seed-'));
  try {
    const executable = scriptExecutable(commit);
    const unit =
      options.unit ?? `[Service]\nExecStart=/usr/local/bin/ecs-host-service\n# release ${commit}\n`;
    const file = (name: string) => path.join(dir, name);
    fs.writeFileSync(file(EXECUTABLE), executable, { mode: 0o755 });
    fs.writeFileSync(file(UNIT), unit);
    fs.writeFileSync(
      file(CHECKSUMS),
      `${sha256Of(file(EXECUTABLE))}  ${EXECUTABLE}\n${sha256Of(file(UNIT))}  ${UNIT}\n`,
    );
    const buildInfo: BuildInfo = {
      commit,
      builtAt: '2000-01-01T00:00:00.000Z',
      node: 'v0',
      size: executable.length,
      sha256: sha256Of(file(EXECUTABLE)),
    };
    fs.writeFileSync(file(BUILD_INFO), `${JSON.stringify(buildInfo, null, 2)}\n`);
    // After the checksums: the bucket then holds bytes that are not the ones released.
    if (options.tamperExecutable) fs.appendFileSync(file(EXECUTABLE), 'echo tampered\n');
    const names = [EXECUTABLE, UNIT, CHECKSUMS, BUILD_INFO];
    const quiet = () => {};
    await uploadRelease(client, bucket, commit, new Map(names.map((n) => [n, file(n)])), quiet);
    if (options.latest) await pointLatestAt(client, bucket, commit, names, quiet);
    return { commit, executable, unit, buildInfo };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
