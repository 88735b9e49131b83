/**
 * The Sentry side of a release, through Sentry's documented web API: the
 * release named by the commit, the bundle and its source map as release
 * files, and a deploy for the environment. The token travels only in the
 * Authorization header, and no error from here carries a request's headers.
 */
import fs from 'node:fs';
import axios, { type AxiosInstance } from 'axios';

export interface SentrySettings {
  url: string;
  org: string;
  project: string;
  token: string;
  environment: string;
}

/** The names sentry-cli reads, so one set of secrets serves both. */
export function sentrySettingsFrom(env: NodeJS.ProcessEnv): SentrySettings {
  const missing = ['SENTRY_ORG', 'SENTRY_PROJECT', 'SENTRY_AUTH_TOKEN'].filter((name) => !env[name]);
  if (missing.length > 0) throw new Error(`Sentry settings missing: ${missing.join(', ')}`);
  return {
    url: (env['SENTRY_URL'] || 'https://sentry.io').replace(/\/+$/, ''),
    org: env['SENTRY_ORG']!,
    project: env['SENTRY_PROJECT']!,
    token: env['SENTRY_AUTH_TOKEN']!,
    environment: env['SENTRY_ENVIRONMENT'] || 'production',
  };
}

/** The name stack frames give the bundle inside the executable (scripts/sea.mjs). */
export const BUNDLE_NAME = '~/ecs-host-service.cjs';

class SentryApiError extends Error {}

function apiFor(settings: SentrySettings): AxiosInstance {
  const api = axios.create({
    baseURL: `${settings.url}/api/0/organizations/${encodeURIComponent(settings.org)}/`,
    headers: { Authorization: `Bearer ${settings.token}` },
    timeout: 120_000,
    maxBodyLength: Infinity,
  });
  // An axios error holds the request's config, headers and all: replace it with one that holds none.
  api.interceptors.response.use(undefined, (error: unknown) => {
    const status = axios.isAxiosError(error) ? (error.response?.status ?? error.code) : undefined;
    const what = axios.isAxiosError(error)
      ? `${error.config?.method?.toUpperCase()} ${error.config?.url}`
      : '';
    return Promise.reject(new SentryApiError(`Sentry API ${what} failed: ${status ?? String(error)}`));
  });
  return api;
}

async function uploadFile(
  api: AxiosInstance,
  releasePath: string,
  name: string,
  file: string,
  header?: string,
) {
  const form = new FormData();
  form.append('name', name);
  if (header) form.append('header', header);
  form.append('file', new Blob([fs.readFileSync(file)]), name.replace(/^~\//, ''));
  // 409: already there from an earlier run of the same release.
  await api.post(`${releasePath}files/`, form, { validateStatus: (s) => (s >= 200 && s < 300) || s === 409 });
}

export async function createSentryRelease(
  settings: SentrySettings,
  commit: string,
  bundle: { code: string; map: string },
  log: (line: string) => void,
): Promise<void> {
  const api = apiFor(settings);
  // 208: the release already exists (a re-run); that is fine.
  await api.post('releases/', { version: commit, projects: [settings.project] });
  const releasePath = `releases/${encodeURIComponent(commit)}/`;
  await uploadFile(api, releasePath, BUNDLE_NAME, bundle.code, `Sourcemap: ${BUNDLE_NAME.slice(2)}.map`);
  await uploadFile(api, releasePath, `${BUNDLE_NAME}.map`, bundle.map);
  log(`Sentry release ${commit} created with its source map`);
}

export async function markDeployed(settings: SentrySettings, commit: string, log: (line: string) => void) {
  await apiFor(settings).post(`releases/${encodeURIComponent(commit)}/deploys/`, {
    environment: settings.environment,
  });
  log(`Sentry release ${commit} deployed to ${settings.environment}`);
}
