/**
 * What a release is made of, read from the built production artifact itself:
 * its `--version` names the commit, build time and Node version, so the
 * release can never disagree with the file it ships.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export const EXECUTABLE = 'ecs-host-service';
export const UNIT = 'ecs-host-service.service';
export const CHECKSUMS = 'ecs-host-service.sha256';
export const BUILD_INFO = 'build-info.json';

export interface BuildInfo {
  commit: string;
  builtAt: string;
  node: string;
  size: number;
  sha256: string;
}

export interface ReleaseFiles {
  buildInfo: BuildInfo;
  /** Object name to local file, in upload order. */
  files: Map<string, string>;
  /** The bundle inside the executable (auth secrets masked) and its map, for Sentry. */
  bundle: string;
  sourceMap: string;
}

const VERSION_LINE = /^ecs-host-service commit (\S+) built (\S+) node (\S+)$/;

export function readVersion(executable: string): Pick<BuildInfo, 'commit' | 'builtAt' | 'node'> {
  const line = execFileSync(executable, ['--version'], { encoding: 'utf8', timeout: 30_000 }).trim();
  const match = VERSION_LINE.exec(line);
  if (!match) throw new Error(`${executable} --version printed "${line}", not a version line`);
  return { commit: match[1]!, builtAt: match[2]!, node: match[3]! };
}

export function sha256Of(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/**
 * Writes the checksum list (in `sha256sum` format, covering the executable
 * and the unit the release carries) and build-info.json next to the artifact.
 */
export function prepareRelease(buildDir: string, unitFile: string): ReleaseFiles {
  const executable = path.join(buildDir, EXECUTABLE);
  const unit = path.join(buildDir, UNIT);
  fs.copyFileSync(unitFile, unit);
  const version = readVersion(executable);
  const sha256 = sha256Of(executable);
  const buildInfo: BuildInfo = { ...version, size: fs.statSync(executable).size, sha256 };
  const checksums = path.join(buildDir, CHECKSUMS);
  fs.writeFileSync(checksums, `${sha256}  ${EXECUTABLE}\n${sha256Of(unit)}  ${UNIT}\n`);
  const info = path.join(buildDir, BUILD_INFO);
  fs.writeFileSync(info, `${JSON.stringify(buildInfo, null, 2)}\n`);
  return {
    buildInfo,
    // build-info.json last: under latest/ it is what names the release (deploy/install-from-s3.sh).
    files: new Map([
      [EXECUTABLE, executable],
      [UNIT, unit],
      [CHECKSUMS, checksums],
      [BUILD_INFO, info],
    ]),
    // The copy with the auth secrets masked (scripts/sea.mjs): those stay on hosts.
    bundle: path.join(buildDir, 'sea', 'ecs-host-service.published.cjs'),
    sourceMap: path.join(buildDir, `${EXECUTABLE}.map`),
  };
}
