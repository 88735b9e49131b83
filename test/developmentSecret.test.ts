import { describe, expect, it } from 'vitest';
import { DEVELOPMENT_AUTH_SECRET, loadConfig } from '../src/config.js';

const elsewhere = { WEBSERVER_URL: 'http://127.0.0.1:9', SENTRY_DSN: 'http://k@127.0.0.1:9/1' };

describe('the auth_secret', () => {
  it("development defaults to the fleet scripts' secret", () => {
    expect(DEVELOPMENT_AUTH_SECRET).toBe('testwebserverauthsecretdev');
    expect(loadConfig({}).authSecret).toBe('testwebserverauthsecretdev');
    expect(loadConfig({ APP_ENV: 'dev', WEBSERVER_AUTH_SECRET: '' }).authSecret).toBe(
      'testwebserverauthsecretdev',
    );
  });

  it('WEBSERVER_AUTH_SECRET wins in development', () => {
    expect(loadConfig({ WEBSERVER_AUTH_SECRET: 'mine' }).authSecret).toBe('mine');
  });

  it('staging and production refuse to start without an injected secret', () => {
    expect(() => loadConfig({ APP_ENV: 'staging', ...elsewhere })).toThrow(
      /^WEBSERVER_AUTH_SECRET: staging needs the auth_secret.*HOST_SERVICE_AUTH_SECRET_STAGING/,
    );
    expect(() => loadConfig({ APP_ENV: 'production', ...elsewhere })).toThrow(
      /^WEBSERVER_AUTH_SECRET: production needs the auth_secret.*HOST_SERVICE_AUTH_SECRET_PROD/,
    );
    expect(loadConfig({ APP_ENV: 'staging', ...elsewhere, WEBSERVER_AUTH_SECRET: 's' }).authSecret).toBe('s');
  });
});
