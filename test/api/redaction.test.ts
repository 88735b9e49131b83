import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { Sealed } from '../../machines/events.js';
import { rcloneEnvironment } from '../../src/resources/cloudStorage.js';
import { createLogger } from '../../src/observability/logger.js';

const SECRETS = ['auth-secret-1234', 'access-5678', 'refresh-9012', 'client-secret-3456'];
const credentials = {
  accessToken: 'access-5678',
  refreshToken: 'refresh-9012',
  expiry: '2030-01-01T00:00:00Z',
  tokenType: 'Bearer',
  clientId: 'client-id',
  clientSecret: 'client-secret-3456',
};

async function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { logger: await createLogger({ level: 'trace', pretty: false, destination }), lines };
}

describe('secrets in log lines', () => {
  it('redacts the request fields and credentials wherever they sit', async () => {
    const { logger, lines } = await capture();
    const body = {
      auth_secret: 'auth-secret-1234',
      access_token: 'access-5678',
      refresh_token: 'refresh-9012',
      client_secret: 'client-secret-3456',
    };
    logger.info(body, 'a body at the top');
    logger.warn({ body }, 'a body one level down');
    logger.error({ credentials }, 'credentials');
    logger.info({ mount: { ...credentials } }, 'credentials one level down');
    logger.info({ env: rcloneEnvironment({ type: 'drive' }, credentials) }, 'an rclone environment');
    logger.info({ request: { credentials: new Sealed(credentials) } }, 'a sealed value');
    const failed = Object.assign(new Error('request failed'), { config: { data: body } });
    logger.error({ err: failed }, 'an HTTP client error that carries the request');
    logger.error({ error: failed }, 'the same error under another key');
    expect(lines).toHaveLength(8);
    for (const line of lines) for (const secret of SECRETS) expect(line).not.toContain(secret);
    expect(lines[0]).toContain('[redacted]');
  });
});

describe('the rclone environment', () => {
  it('carries an OAuth remote as token JSON plus client id and secret, and nothing of ours', () => {
    const env = rcloneEnvironment({ type: 'drive' }, credentials);
    expect(env['RCLONE_CONFIG_CLOUD_TYPE']).toBe('drive');
    expect(JSON.parse(env['RCLONE_CONFIG_CLOUD_TOKEN']!)).toEqual({
      access_token: 'access-5678',
      token_type: 'Bearer',
      refresh_token: 'refresh-9012',
      expiry: '2030-01-01T00:00:00Z',
    });
    expect(env['RCLONE_CONFIG_CLOUD_CLIENT_SECRET']).toBe('client-secret-3456');
    expect(env['RCLONE_CONFIG']).toBe('/dev/null');
    expect(
      Object.keys(env)
        .filter((k) => !k.startsWith('RCLONE_'))
        .sort(),
    ).toEqual(['PATH']);
  });

  it('carries a bearer remote as bearer_token with its fixed options', () => {
    const env = rcloneEnvironment(
      { type: 'webdav', options: { url: 'http://127.0.0.1:1' }, credentials: 'bearer' },
      credentials,
    );
    expect(env).toMatchObject({
      RCLONE_CONFIG_CLOUD_TYPE: 'webdav',
      RCLONE_CONFIG_CLOUD_URL: 'http://127.0.0.1:1',
      RCLONE_CONFIG_CLOUD_BEARER_TOKEN: 'access-5678',
    });
    expect(env['RCLONE_CONFIG_CLOUD_CLIENT_SECRET']).toBeUndefined();
  });
});
