import { describe, expect, it } from 'vitest';
import { redactSecrets, withoutSecrets } from '../../src/observability/secrets.js';

describe('redactSecrets', () => {
  it('replaces credential-looking fields at any depth and leaves the rest', () => {
    const event = {
      type: '@xstate.snapshot',
      _version: '0.7.2',
      snapshot: {
        context: {
          authToken: 'abc',
          containers: new Map([['a', { hostPort: 1, tty: 10, credentials: 'k' }]]),
          holders: new Map([[10, 'a']]),
          diedByList: new Set(['b']),
        },
        input: { authToken: 'abc' },
      },
      event: { type: 'api.request', request: { auth_secret: 's', dpi: 96 }, headers: { Authorization: 'x' } },
      list: [{ password: 'p', name: 'n' }],
    };
    expect(redactSecrets(event)).toEqual({
      type: '@xstate.snapshot',
      _version: '0.7.2',
      snapshot: {
        // Maps become records (keys as strings) and Sets lists, walked like the rest.
        context: {
          authToken: '[redacted]',
          containers: { a: { hostPort: 1, tty: 10, credentials: '[redacted]' } },
          holders: { '10': 'a' },
          diedByList: ['b'],
        },
        input: { authToken: '[redacted]' },
      },
      event: {
        type: 'api.request',
        request: { auth_secret: '[redacted]', dpi: 96 },
        headers: { Authorization: '[redacted]' },
      },
      list: [{ password: '[redacted]', name: 'n' }],
    });
    // The original is untouched.
    expect(event.snapshot.context.authToken).toBe('abc');
  });

  it('names live objects instead of walking them, keeps error messages, and stops at a depth', () => {
    class Subscription {
      closed = false;
    }
    const deep: Record<string, unknown> = {};
    let cursor = deep;
    for (let i = 0; i < 20; i++) cursor = cursor['next'] = {};
    const out = redactSecrets({ ref: new Subscription(), error: new Error('boom'), deep }) as Record<
      string,
      unknown
    >;
    expect(out['ref']).toBe('[Subscription]');
    expect(out['error']).toEqual({ name: 'Error', message: 'boom' });
    expect(JSON.stringify(out['deep'])).toContain('[too deep]');
  });
});

describe('withoutSecrets (log records)', () => {
  it('returns the very same object when there is nothing to hide', () => {
    const record = { containerId: 'abc', hostPort: 32768, nested: { tty: 12 }, list: [{ name: 'n' }] };
    expect(withoutSecrets(record)).toBe(record);
  });

  it('hides credentials at any depth in a copy, leaving the original and the other fields alone', () => {
    const record = {
      containerId: 'abc',
      body: { auth_secret: 's', dpi: 96 },
      list: [{ access_token: 't' }, { name: 'n' }],
      env: { RCLONE_CONFIG_CLOUD_TYPE: 'drive' },
    };
    expect(withoutSecrets(record)).toEqual({
      containerId: 'abc',
      body: { auth_secret: '[redacted]', dpi: 96 },
      list: [{ access_token: '[redacted]' }, { name: 'n' }],
      env: '[redacted]',
    });
    expect(record.body.auth_secret).toBe('s');
    expect(record.list[0]!.access_token).toBe('t');
  });

  it('walks the fields of errors, and leaves other class instances to their own serialization', () => {
    const plainError = new Error('boom');
    const sealed = new (class Sealed {
      toJSON = () => '[sealed]';
    })();
    const clean = { err: plainError, sealed };
    expect(withoutSecrets(clean)).toBe(clean);

    const leaky = Object.assign(new Error('request failed'), { config: { headers: { Authorization: 'x' } } });
    const out = withoutSecrets<unknown>({ err: leaky }) as { err: Record<string, unknown> };
    expect(out.err).toMatchObject({
      type: 'Error',
      message: 'request failed',
      config: { headers: { Authorization: '[redacted]' } },
    });
    expect(out.err['stack']).toContain('request failed');
  });
});
