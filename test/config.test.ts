import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';

const base = { HOST_SERVICE_ROOT: '/tmp/hs-config-test' };

describe('configuration', () => {
  it.each([
    [undefined, 'development'],
    ['dev', 'development'],
    ['DEVELOPMENT', 'development'],
    ['STAGING', 'staging'],
    ['prod', 'production'],
    ['PRODUCTION', 'production'],
  ])('APP_ENV=%s is %s', (value, expected) => {
    const env = {
      ...base,
      ...(value === undefined ? {} : { APP_ENV: value }),
      WEBSERVER_URL: 'http://127.0.0.1:9',
      WEBSERVER_AUTH_SECRET: 's',
      SENTRY_DSN: 'http://k@127.0.0.1:9/1',
    };
    expect(loadConfig(env).appEnv).toBe(expected);
  });

  it('refuses any other APP_ENV, naming the setting', () => {
    expect(() => loadConfig({ ...base, APP_ENV: 'Production' })).toThrow(ConfigError);
    expect(() => loadConfig({ ...base, APP_ENV: 'Production' })).toThrow(/^APP_ENV: /);
  });

  it('turns Sentry on in production always, elsewhere with USE_PROD_SENTRY', () => {
    expect(loadConfig(base).sentryEnabled).toBe(false);
    expect(
      loadConfig({ ...base, USE_PROD_SENTRY: 'YES', SENTRY_DSN: 'http://k@127.0.0.1:9/1' }).sentryDsn,
    ).toBe('http://k@127.0.0.1:9/1');
    expect(loadConfig({ ...base, USE_PROD_SENTRY: 'no' }).sentryEnabled).toBe(false);
  });

  it('development without a webserver URL uses the embedded stand-in; staging needs one', () => {
    expect(loadConfig(base).webserverUrl).toBeUndefined();
    expect(() => loadConfig({ ...base, APP_ENV: 'staging' })).toThrow(/^WEBSERVER_URL: staging needs/);
  });

  it('production refuses an empty secret', () => {
    expect(() =>
      loadConfig({
        ...base,
        APP_ENV: 'prod',
        WEBSERVER_URL: 'http://127.0.0.1:9',
        SENTRY_DSN: 'http://k@127.0.0.1:9/1',
      }),
    ).toThrow(/^WEBSERVER_AUTH_SECRET: production needs/);
  });

  it('keeps the debug fatal setting to development', () => {
    expect(loadConfig({ ...base, HOST_SERVICE_DEBUG_FATAL_AFTER_MS: '10' }).debugFatalAfterMs).toBe(10);
    expect(() =>
      loadConfig({
        ...base,
        APP_ENV: 'production',
        WEBSERVER_URL: 'http://127.0.0.1:9',
        WEBSERVER_AUTH_SECRET: 's',
        SENTRY_DSN: 'http://k@127.0.0.1:9/1',
        HOST_SERVICE_DEBUG_FATAL_AFTER_MS: '10',
      }),
    ).toThrow(/^HOST_SERVICE_DEBUG_FATAL_AFTER_MS/);
  });

  it.each(['abc', '0', '70000', '1.5'])('HOST_SERVICE_PORT=%j names the allowed range', (value) => {
    expect(() => loadConfig({ ...base, HOST_SERVICE_PORT: value })).toThrow(
      /^HOST_SERVICE_PORT: expected a whole number from 1 to 65535 \(got ".*"\)$/,
    );
  });
});
