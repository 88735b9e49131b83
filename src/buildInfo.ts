/**
 * What scripts/build.mjs writes into the bundle: the commit, and the
 * per-environment values that must never be committed (the webserver's
 * `auth_secret`) or that operators choose at build time (webserver URLs, the
 * Sentry DSN). A run from source has none of them.
 */
import type { AppEnv } from './config.js';

declare const __GIT_COMMIT__: string | undefined;
declare const __BUILD_SETTINGS__: BuildSettings | undefined;

interface BuildSettings {
  authSecrets: Record<AppEnv, string>;
  webserverUrls: Record<AppEnv, string>;
  sentryDsn: string;
}

const built: BuildSettings | undefined =
  typeof __BUILD_SETTINGS__ === 'object' ? __BUILD_SETTINGS__ : undefined;

export const gitCommit: string = typeof __GIT_COMMIT__ === 'string' ? __GIT_COMMIT__ : 'unknown';

export function builtInAuthSecret(appEnv: AppEnv): string {
  return built?.authSecrets[appEnv] ?? '';
}

/** Undefined in development unless the build named one: development then uses the embedded stand-in. */
export function builtInWebserverUrl(appEnv: AppEnv): string | undefined {
  const url = built?.webserverUrls[appEnv] ?? '';
  return url === '' ? undefined : url;
}

export const builtInSentryDsn: string = built?.sentryDsn ?? '';

/**
 * In the single executable, whether its main (scripts/seaMain.cjs) ran the
 * bundle with the code compiled at build time ('taken') or compiled it from
 * its source because V8 refused that code under this process's flags
 * ('rejected': the start is some 50 ms slower, nothing else changes).
 * Undefined in the development build, which has no such code.
 */
export const codeCache: string | undefined = (() => {
  const value: unknown = (globalThis as Record<symbol, unknown>)[Symbol.for('ecs-host-service.codeCache')];
  return typeof value === 'string' ? value : undefined;
})();
