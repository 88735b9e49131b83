import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { freshRoot, serviceExecutable } from '../support/service.js';

/** Runs the built service with a bad setting: it must stop at once, with one line, touching nothing. */
function runWith(env: Record<string, string>) {
  const root = path.join(freshRoot(), 'not-created');
  const result = spawnSync(serviceExecutable, [], {
    env: {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      HOST_SERVICE_ROOT: root,
      EC2_METADATA_URL: 'http://127.0.0.1:9',
      LOG_FORMAT: 'json',
      ...env,
    },
    encoding: 'utf8',
    timeout: 10_000,
  });
  return { ...result, root };
}

describe('bad configuration', () => {
  const cases: [string, Record<string, string>, RegExp][] = [
    ['an unknown APP_ENV', { APP_ENV: 'prodution' }, /APP_ENV: "prodution" is not one of/],
    [
      'a bad webserver URL',
      { WEBSERVER_URL: 'not a url' },
      /^ecs-host-service: configuration error: WEBSERVER_URL: /,
    ],
    ['a bad metadata URL', { EC2_METADATA_URL: 'ftp://169.254.169.254' }, /EC2_METADATA_URL: /],
    [
      'an empty production secret',
      { APP_ENV: 'production', WEBSERVER_URL: 'http://127.0.0.1:9', SENTRY_DSN: 'http://k@127.0.0.1:9/1' },
      /WEBSERVER_AUTH_SECRET: production needs the auth_secret/,
    ],
    [
      'the debug fatal outside development',
      { APP_ENV: 'staging', WEBSERVER_URL: 'http://127.0.0.1:9', HOST_SERVICE_DEBUG_FATAL_AFTER_MS: '10' },
      /HOST_SERVICE_DEBUG_FATAL_AFTER_MS: is for development runs only/,
    ],
    [
      'an unreadable settings file',
      { HOST_SERVICE_CONFIG_FILE: '/nonexistent/host-service.env' },
      /HOST_SERVICE_CONFIG_FILE: cannot read/,
    ],
  ];
  for (const [what, env, message] of cases) {
    it(`${what}: one clear line, a non-zero exit, nothing on disk`, () => {
      const result = runWith(env);
      expect(result.status).toBe(2);
      expect(result.stdout).toBe('');
      const lines = result.stderr.split('\n').filter((l) => l !== '');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^ecs-host-service: configuration error: /);
      expect(lines[0]).toMatch(message);
      expect(fs.existsSync(result.root)).toBe(false);
    });
  }

  it('reads settings from the file, and the environment wins over it', () => {
    const dir = freshRoot();
    const file = path.join(dir, 'host-service.env');
    fs.writeFileSync(file, '# a host\nAPP_ENV=staging\nWEBSERVER_URL="not a url"\n');
    expect(runWith({ HOST_SERVICE_CONFIG_FILE: file }).stderr).toMatch(/WEBSERVER_URL: /);
    const overridden = runWith({ HOST_SERVICE_CONFIG_FILE: file, APP_ENV: 'bogus' });
    expect(overridden.stderr).toMatch(/APP_ENV: "bogus"/);
  });
});
