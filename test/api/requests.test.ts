import { describe, expect, it } from 'vitest';
import { ENDPOINTS, sanitiseProvider, secretMatches } from '../../src/api/requests.js';

const known = new Set(['google_drive', 'dropbox']);
const mount = ENDPOINTS['/mount_cloud_storage']!;
const setDpi = ENDPOINTS['/set_container_dpi']!;

const mountBody = (provider: string) => ({
  host_port: 4000,
  provider,
  access_token: 'a',
  refresh_token: 'r',
  expiry: 'e',
  token_type: 'Bearer',
  client_id: 'i',
  client_secret: 's',
});

describe('provider names', () => {
  it.each([
    ['google drive', 'google_drive'],
    ['Google Drive', 'Google_Drive'],
    ['../../etc', 'etc'],
    ['..', ''],
    ['', ''],
    ['ドライブ', ''],
    ['drop-box!', 'dropbox'],
    ['a b\tc', 'a_bc'],
    ['x/../../y', 'xy'],
  ])('%j becomes %j', (raw, sanitised) => {
    expect(sanitiseProvider(raw)).toBe(sanitised);
  });

  it('refuses with 406 a name that sanitises to nothing, or to no known provider', () => {
    expect(mount.parse(mountBody('../..'), known)).toEqual({
      ok: false,
      status: 406,
      error: 'the provider name has no letters, digits or underscores',
    });
    expect(mount.parse(mountBody('../../etc'), known)).toEqual({
      ok: false,
      status: 406,
      error: 'unknown cloud storage provider etc (known: dropbox, google_drive)',
    });
  });

  it('names a credential that is missing, or of the wrong type', () => {
    const { refresh_token: _left, ...withoutRefresh } = mountBody('dropbox');
    expect(mount.parse(withoutRefresh, known)).toEqual({
      ok: false,
      status: 400,
      text: 'missing field refresh_token: expected a string',
    });
    expect(mount.parse({ ...mountBody('dropbox'), expiry: 3600 }, known)).toEqual({
      ok: false,
      status: 400,
      text: 'bad field expiry: expected a string',
    });
  });

  it('accepts a known provider, sealing the credentials', () => {
    const parsed = mount.parse(mountBody('google drive'), known);
    if (!parsed.ok || !('request' in parsed) || parsed.request.kind !== 'mountCloudStorage') {
      throw new Error('not parsed');
    }
    expect(parsed.request.provider).toBe('google_drive');
    expect(JSON.stringify(parsed.request)).not.toContain('"s"');
    expect(parsed.request.credentials.reveal()).toMatchObject({ accessToken: 'a', clientSecret: 's' });
  });
});

describe('the secret check', () => {
  it('matches only the exact secret', () => {
    expect(secretMatches('s3cret', 's3cret')).toBe(true);
    expect(secretMatches('s3creT', 's3cret')).toBe(false);
    expect(secretMatches('s3cret!', 's3cret')).toBe(false);
    expect(secretMatches('', 's3cret')).toBe(false);
  });

  it('matches nothing when no secret is configured', () => {
    expect(secretMatches('', '')).toBe(false);
    expect(secretMatches('anything', '')).toBe(false);
  });

  it('compares bytes, so multi-byte characters of the same length in characters do not match', () => {
    expect(secretMatches('ééé', 'abc')).toBe(false);
  });
});

describe('the DPI schema', () => {
  it.each([
    [{ host_port: 0, dpi: 96 }, 'bad field host_port: expected an integer from 1 to 65535'],
    [{ host_port: 65535, dpi: 10_001 }, 'bad field dpi: expected an integer from 1 to 10000'],
    [{ host_port: 1, dpi: 96.5 }, 'bad field dpi: expected an integer from 1 to 10000'],
    [{ host_port: null, dpi: 96 }, 'bad field host_port: expected an integer from 1 to 65535'],
    [{ dpi: 96 }, 'missing field host_port: expected an integer from 1 to 65535'],
    [{ host_port: 4000 }, 'missing field dpi: expected an integer from 1 to 10000'],
  ])('%j is refused', (body, text) => {
    expect(setDpi.parse(body, known)).toEqual({ ok: false, status: 400, text });
  });

  it('takes the bounds and ignores unknown fields', () => {
    expect(setDpi.parse({ host_port: 65535, dpi: 10_000, extra: true }, known)).toEqual({
      ok: true,
      request: { kind: 'setDpi', hostPort: 65535, dpi: 10_000 },
    });
  });
});
