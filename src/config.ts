/**
 * Settings from the environment (names fixed by the protocol), validated once
 * at start. A bad value stops the service with one line naming the setting.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { parseEnvFile } from './envFile.js';
import { builtInAuthSecret, builtInSentryDsn, builtInWebserverUrl } from './buildInfo.js';
import { RESERVED_TTYS } from '../machines/host/ttyTable.js';
import { errorMessage } from '../machines/shared.js';

/** How a provider's credentials become an rclone remote. */
export interface CloudBackend {
  /** The rclone backend: `drive`, `dropbox`, `webdav`, ... */
  type: string;
  /** Fixed options of the remote (e.g. a webdav `url`). */
  options?: Record<string, string>;
  /** `oauth`: token JSON plus client id and secret; `bearer`: the access token as `bearer_token`. */
  credentials?: 'oauth' | 'bearer';
}

/** The providers the webserver names today; HOST_SERVICE_CLOUD_BACKENDS adds or replaces. */
export const DEFAULT_BACKENDS: Record<string, CloudBackend> = {
  google_drive: { type: 'drive' },
  dropbox: { type: 'dropbox' },
};

export type AppEnv = 'development' | 'staging' | 'production';

const APP_ENVS: Record<string, AppEnv> = {
  development: 'development',
  dev: 'development',
  DEVELOPMENT: 'development',
  DEV: 'development',
  staging: 'staging',
  STAGING: 'staging',
  production: 'production',
  prod: 'production',
  PRODUCTION: 'production',
  PROD: 'production',
};

export class ConfigError extends Error {
  constructor(
    readonly setting: string,
    message: string,
  ) {
    super(`${setting}: ${message}`);
    this.name = 'ConfigError';
  }
}

/** One message for every way an integer setting can be wrong: the operator needs the allowed range, not zod's view. */
const integer = (min: number, max: number) => {
  const allowed = `expected a whole number from ${min} to ${max}`;
  return z.coerce.number({ error: allowed }).int(allowed).min(min, allowed).max(max, allowed);
};

const truthy = z
  .string()
  .transform((v) => ['1', 'yes', 'true'].includes(v.toLowerCase()))
  .pipe(z.boolean());

const backendsSchema = z.record(
  z.string().regex(/^[A-Za-z0-9_]+$/, 'provider names are made of [A-Za-z0-9_]'),
  z.object({
    type: z.string().regex(/^[a-z0-9]+$/),
    options: z.record(z.string().regex(/^[a-z0-9_]+$/), z.string()).optional(),
    credentials: z.enum(['oauth', 'bearer']).optional(),
  }),
);

const jsonBackends = z.string().transform((v, ctx) => {
  try {
    return JSON.parse(v) as unknown;
  } catch {
    ctx.addIssue({ code: 'custom', message: 'is not JSON' });
    return z.NEVER;
  }
});

/**
 * How long a DPI request for an unknown host port waits while the engine
 * stream is connected and no container is being set up: the start event of a
 * container whose `docker run` has returned arrives well within it (figures
 * in the README). A start on its way extends the wait up to
 * HOST_SERVICE_REQUEST_WAIT_MS.
 */
export const CONNECTED_REQUEST_WAIT_MS = 2000;

const settingsSchema = z.object({
  APP_ENV: z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === '') return 'development' as AppEnv;
      const env = APP_ENVS[v];
      if (env === undefined) {
        ctx.addIssue({
          code: 'custom',
          message: `"${v}" is not one of development|dev|DEVELOPMENT|DEV, staging|STAGING, production|prod|PRODUCTION|PROD`,
        });
        return z.NEVER;
      }
      return env;
    }),
  USE_PROD_SENTRY: truthy.optional(),
  HOST_SERVICE_ROOT: z
    .string()
    .default('/')
    .refine((v) => path.isAbsolute(v), 'must be an absolute path'),
  HOST_SERVICE_PORT: integer(1, 65535).default(4678),
  WEBSERVER_URL: z.url({ protocol: /^https?$/ }).optional(),
  WEBSERVER_AUTH_SECRET: z.string().optional(),
  EC2_METADATA_URL: z.url({ protocol: /^https?$/ }).default('http://169.254.169.254'),
  HEARTBEAT_INTERVAL_MS: integer(1000, 3_600_000).default(60_000),
  ALLOW_NON_ROOT: z.enum(['1']).optional(),
  HOST_SERVICE_TTY_COUNT: integer(RESERVED_TTYS + 1, 4096).default(256),
  HOST_SERVICE_RELIST_INTERVAL_MS: integer(100, 600_000).default(10_000),
  HOST_SERVICE_ENGINE_TIMEOUT_MS: integer(100, 300_000).default(30_000),
  HOST_SERVICE_DPI_TIMEOUT_MS: integer(1000, 86_400_000).default(120_000),
  HOST_SERVICE_REQUEST_WAIT_MS: integer(0, 600_000).default(30_000),
  /** The wait while the engine stream is connected and no container is being set up (see README, DPI wait). */
  HOST_SERVICE_CONNECTED_REQUEST_WAIT_MS: integer(0, 600_000).default(CONNECTED_REQUEST_WAIT_MS),
  HOST_SERVICE_DRAIN_TIMEOUT_MS: integer(100, 600_000).default(20_000),
  HOST_SERVICE_MOUNT_TIMEOUT_MS: integer(1000, 120_000).default(15_000),
  HOST_SERVICE_API_REPLY_TIMEOUT_MS: integer(100, 900_000).optional(),
  HOST_SERVICE_CLOUD_BACKENDS: jsonBackends.pipe(backendsSchema).optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
  LOG_FORMAT: z.enum(['json', 'pretty']).optional(),
  HOST_SERVICE_INSPECTOR_PORT: integer(1, 65535).optional(),
  SENTRY_DSN: z.url({ protocol: /^https?$/ }).optional(),
  /** How long the handshake may keep failing before the service gives up, and the first retry delay. */
  HOST_SERVICE_HANDSHAKE_TIMEOUT_MS: integer(1000, 3_600_000).default(120_000),
  HOST_SERVICE_HANDSHAKE_RETRY_MS: integer(10, 60_000).default(1000),
  ECS_AGENT_IMAGE: z.string().min(1).default('amazon/amazon-ecs-agent:latest'),
  /** Prefix of the host paths the ECS agent container mounts and reads its env file from. */
  ECS_AGENT_HOST_ROOT: z
    .string()
    .default('/')
    .refine((v) => path.isAbsolute(v), 'must be an absolute path'),
  /** Development only: take the fatal path this long after start, to exercise the shutdown path. */
  HOST_SERVICE_DEBUG_FATAL_AFTER_MS: integer(0, 3_600_000).optional(),
});

/**
 * The `auth_secret` of development runs unless the build or WEBSERVER_AUTH_SECRET
 * names another: the fleet's development scripts send it (it was the original
 * Makefile's default). It guards nothing real; staging and production secrets
 * are only ever injected.
 */
export const DEVELOPMENT_AUTH_SECRET = 'testwebserverauthsecretdev';

/** Settings that may also come from the optional file named by HOST_SERVICE_CONFIG_FILE. */
export const CONFIG_FILE_SETTING = 'HOST_SERVICE_CONFIG_FILE';

function readSettingsFile(file: string): Record<string, string> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(CONFIG_FILE_SETTING, `cannot read ${file}: ${errorMessage(error)}`);
  }
  try {
    return parseEnvFile(text, file);
  } catch (error) {
    throw new ConfigError(CONFIG_FILE_SETTING, errorMessage(error));
  }
}

export interface Config {
  appEnv: AppEnv;
  sentryEnabled: boolean;
  root: string;
  paths: { mappings: string; private: string; cloudStorage: string };
  apiPort: number;
  webserverUrl: string | undefined;
  /** The shared secret the webserver puts in every request (development has a default; see DEVELOPMENT_AUTH_SECRET). */
  authSecret: string;
  metadataUrl: string;
  heartbeatIntervalMs: number;
  allowNonRoot: boolean;
  ttyCount: number;
  relistIntervalMs: number;
  engineTimeoutMs: number;
  dpiTimeoutMs: number;
  requestWaitMs: number;
  connectedRequestWaitMs: number;
  drainTimeoutMs: number;
  /** How long rclone may take to serve a mount before the request is answered 406. */
  mountTimeoutMs: number;
  /** The API answers 406 when nothing else answered a request within this time. */
  apiReplyTimeoutMs: number;
  /** Provider name (as sanitised) to rclone backend; the defaults plus HOST_SERVICE_CLOUD_BACKENDS. */
  cloudBackends: Record<string, CloudBackend>;
  logLevel: string;
  /** JSON lines for journald; pretty by default in development only. */
  logFormat: 'json' | 'pretty';
  /** The Stately inspector relay on 127.0.0.1; off (undefined) unless asked for. */
  inspectorPort: number | undefined;
  /** Empty when Sentry is off. */
  sentryDsn: string;
  handshakeTimeoutMs: number;
  handshakeRetryMs: number;
  ecsAgent: { image: string; hostRoot: string };
  debugFatalAfterMs: number | undefined;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // Empty variables count as unset, as shells and unit files often leave them so.
  const fromEnv = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const file = fromEnv[CONFIG_FILE_SETTING];
  // The environment wins over the file, so one run can override a host's file.
  const present = { ...(file === undefined ? {} : readSettingsFile(file)), ...fromEnv };
  const parsed = settingsSchema.safeParse(present);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const setting = String(issue.path[0] ?? 'configuration');
    throw new ConfigError(setting, `${issue.message} (got ${JSON.stringify(present[setting] ?? '')})`);
  }
  const s = parsed.data;
  const sentryEnabled = s.APP_ENV === 'production' || s.USE_PROD_SENTRY === true;
  const authSecret =
    s.WEBSERVER_AUTH_SECRET ||
    builtInAuthSecret(s.APP_ENV) ||
    (s.APP_ENV === 'development' ? DEVELOPMENT_AUTH_SECRET : '');
  const sentryDsn = sentryEnabled ? (s.SENTRY_DSN ?? builtInSentryDsn) : '';
  if (s.APP_ENV === 'production' && sentryDsn === '') {
    throw new ConfigError(
      'SENTRY_DSN',
      'production reports errors to Sentry, and this build has no DSN built in (build with HOST_SERVICE_SENTRY_DSN) nor is one set',
    );
  }
  const webserverUrl = s.WEBSERVER_URL ?? builtInWebserverUrl(s.APP_ENV);
  if (webserverUrl === undefined && s.APP_ENV !== 'development') {
    throw new ConfigError(
      'WEBSERVER_URL',
      `${s.APP_ENV} needs a webserver URL, and this build has none built in`,
    );
  }
  if (s.HOST_SERVICE_DEBUG_FATAL_AFTER_MS !== undefined && s.APP_ENV !== 'development') {
    throw new ConfigError(
      'HOST_SERVICE_DEBUG_FATAL_AFTER_MS',
      `is for development runs only (APP_ENV is ${s.APP_ENV})`,
    );
  }
  if (s.APP_ENV !== 'development' && authSecret === '') {
    const buildVariable = `HOST_SERVICE_AUTH_SECRET_${s.APP_ENV === 'production' ? 'PROD' : 'STAGING'}`;
    throw new ConfigError(
      'WEBSERVER_AUTH_SECRET',
      `${s.APP_ENV} needs the auth_secret, and this build has none built in (build with ${buildVariable}) nor is one set`,
    );
  }
  return {
    appEnv: s.APP_ENV,
    sentryEnabled,
    root: s.HOST_SERVICE_ROOT,
    paths: {
      mappings: path.join(s.HOST_SERVICE_ROOT, 'fractal', 'containerResourceMappings'),
      private: path.join(s.HOST_SERVICE_ROOT, 'fractalprivate'),
      cloudStorage: path.join(s.HOST_SERVICE_ROOT, 'fractal', 'cloudStorage'),
    },
    apiPort: s.HOST_SERVICE_PORT,
    // Development without a URL talks to the embedded stand-in (see src/webserver/localStandIn.ts).
    webserverUrl,
    authSecret,
    metadataUrl: s.EC2_METADATA_URL,
    heartbeatIntervalMs: s.HEARTBEAT_INTERVAL_MS,
    allowNonRoot: s.ALLOW_NON_ROOT === '1',
    ttyCount: s.HOST_SERVICE_TTY_COUNT,
    relistIntervalMs: s.HOST_SERVICE_RELIST_INTERVAL_MS,
    engineTimeoutMs: s.HOST_SERVICE_ENGINE_TIMEOUT_MS,
    dpiTimeoutMs: s.HOST_SERVICE_DPI_TIMEOUT_MS,
    requestWaitMs: s.HOST_SERVICE_REQUEST_WAIT_MS,
    connectedRequestWaitMs: s.HOST_SERVICE_CONNECTED_REQUEST_WAIT_MS,
    drainTimeoutMs: s.HOST_SERVICE_DRAIN_TIMEOUT_MS,
    mountTimeoutMs: s.HOST_SERVICE_MOUNT_TIMEOUT_MS,
    // Longer than the longest the host may take: waiting for the container, then mounting.
    apiReplyTimeoutMs:
      s.HOST_SERVICE_API_REPLY_TIMEOUT_MS ??
      s.HOST_SERVICE_REQUEST_WAIT_MS + s.HOST_SERVICE_MOUNT_TIMEOUT_MS + 5000,
    cloudBackends: { ...DEFAULT_BACKENDS, ...s.HOST_SERVICE_CLOUD_BACKENDS },
    logLevel: s.LOG_LEVEL,
    logFormat: s.LOG_FORMAT ?? (s.APP_ENV === 'development' ? 'pretty' : 'json'),
    inspectorPort: s.HOST_SERVICE_INSPECTOR_PORT,
    sentryDsn,
    handshakeTimeoutMs: s.HOST_SERVICE_HANDSHAKE_TIMEOUT_MS,
    handshakeRetryMs: s.HOST_SERVICE_HANDSHAKE_RETRY_MS,
    ecsAgent: { image: s.ECS_AGENT_IMAGE, hostRoot: s.ECS_AGENT_HOST_ROOT },
    debugFatalAfterMs: s.HOST_SERVICE_DEBUG_FATAL_AFTER_MS,
  };
}
