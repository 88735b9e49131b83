/**
 * `ecs-host-service --version`: what this executable was built from, for an
 * operator on a host and for the release checks. Answered before the
 * configuration is read, so it works anywhere and changes nothing.
 */
import { gitCommit } from './buildInfo.js';

declare const __BUILD_TIME__: string | undefined;

export const buildTime: string = typeof __BUILD_TIME__ === 'string' ? __BUILD_TIME__ : 'unknown';

export function versionText(): string {
  return `ecs-host-service commit ${gitCommit} built ${buildTime} node ${process.version}\n`;
}

/** Node puts the script's path in argv[1]; a single executable repeats its own path there. */
export function askedForVersion(argv: readonly string[] = process.argv): boolean {
  return argv.slice(2).includes('--version');
}
