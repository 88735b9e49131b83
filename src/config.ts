/**
 * Settings from the environment (names fixed by the protocol), validated once
 * at start. A bad value stops the service with one line naming the setting.
 */
import path from 'node:path';
import { z } from 'zod';
import { DEFAULT_BACKENDS, type CloudBackend } from './resources/cloudStorage.js';

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

const integer = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

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
  HOST_SERVICE_TTY_COUNT: integer(11, 4096).default(256),
  HOST_SERVICE_RELIST_INTERVAL_MS: integer(100, 600_000).default(10_000),
  HOST_SERVICE_ENGINE_TIMEOUT_MS: integer(100, 300_000).default(30_000),
  HOST_SERVICE_START_VALUES_TIMEOUT_MS: integer(1000, 86_400_000).default(120_000),
  HOST_SERVICE_REQUEST_WAIT_MS: integer(0, 600_000).default(30_000),
  HOST_SERVICE_DRAIN_TIMEOUT_MS: integer(100, 600_000).default(20_000),
  HOST_SERVICE_MOUNT_TIMEOUT_MS: integer(1000, 120_000).default(15_000),
  HOST_SERVICE_API_REPLY_TIMEOUT_MS: integer(100, 900_000).optional(),
  HOST_SERVICE_CLOUD_BACKENDS: jsonBackends.pipe(backendsSchema).optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
  LOG_FORMAT: z.enum(['json', 'pretty']).optional(),
});

export interface Config {
  appEnv: AppEnv;
  sentryEnabled: boolean;
  root: string;
  paths: { mappings: string; private: string; cloudStorage: string };
  apiPort: number;
  webserverUrl: string | undefined;
  /** The shared secret the webserver puts in every request (empty when none was given). */
  authSecret: string;
  metadataUrl: string;
  heartbeatIntervalMs: number;
  allowNonRoot: boolean;
  ttyCount: number;
  relistIntervalMs: number;
  engineTimeoutMs: number;
  startValuesTimeoutMs: number;
  requestWaitMs: number;
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
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // Empty variables count as unset, as shells and unit files often leave them so.
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = settingsSchema.safeParse(present);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const setting = String(issue.path[0] ?? 'configuration');
    throw new ConfigError(setting, `${issue.message} (got ${JSON.stringify(env[setting] ?? '')})`);
  }
  const s = parsed.data;
  return {
    appEnv: s.APP_ENV,
    sentryEnabled: s.APP_ENV === 'production' || s.USE_PROD_SENTRY === true,
    root: s.HOST_SERVICE_ROOT,
    paths: {
      mappings: path.join(s.HOST_SERVICE_ROOT, 'fractal', 'containerResourceMappings'),
      private: path.join(s.HOST_SERVICE_ROOT, 'fractalprivate'),
      cloudStorage: path.join(s.HOST_SERVICE_ROOT, 'fractal', 'cloudStorage'),
    },
    apiPort: s.HOST_SERVICE_PORT,
    webserverUrl: s.WEBSERVER_URL,
    authSecret: s.WEBSERVER_AUTH_SECRET ?? '',
    metadataUrl: s.EC2_METADATA_URL,
    heartbeatIntervalMs: s.HEARTBEAT_INTERVAL_MS,
    allowNonRoot: s.ALLOW_NON_ROOT === '1',
    ttyCount: s.HOST_SERVICE_TTY_COUNT,
    relistIntervalMs: s.HOST_SERVICE_RELIST_INTERVAL_MS,
    engineTimeoutMs: s.HOST_SERVICE_ENGINE_TIMEOUT_MS,
    startValuesTimeoutMs: s.HOST_SERVICE_START_VALUES_TIMEOUT_MS,
    requestWaitMs: s.HOST_SERVICE_REQUEST_WAIT_MS,
    drainTimeoutMs: s.HOST_SERVICE_DRAIN_TIMEOUT_MS,
    mountTimeoutMs: s.HOST_SERVICE_MOUNT_TIMEOUT_MS,
    // Longer than the longest the host may take: waiting for the container, then mounting.
    apiReplyTimeoutMs:
      s.HOST_SERVICE_API_REPLY_TIMEOUT_MS ??
      s.HOST_SERVICE_REQUEST_WAIT_MS + s.HOST_SERVICE_MOUNT_TIMEOUT_MS + 5000,
    cloudBackends: { ...DEFAULT_BACKENDS, ...s.HOST_SERVICE_CLOUD_BACKENDS },
    logLevel: s.LOG_LEVEL,
    logFormat: s.LOG_FORMAT ?? (s.APP_ENV === 'development' ? 'pretty' : 'json'),
  };
}
