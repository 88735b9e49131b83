import { describe, expect, it } from 'vitest';
import { redactSecrets } from '../../src/observability/inspector.js';

describe('redactSecrets', () => {
  it('replaces credential-looking fields at any depth and leaves the rest', () => {
    const event = {
      type: '@xstate.snapshot',
      _version: '0.7.2',
      snapshot: {
        context: { authToken: 'abc', containers: { a: { hostPort: 1, tty: 10 } } },
        input: { authToken: 'abc' },
      },
      event: { type: 'api.request', request: { auth_secret: 's', dpi: 96 }, headers: { Authorization: 'x' } },
      list: [{ password: 'p', name: 'n' }],
    };
    expect(redactSecrets(event)).toEqual({
      type: '@xstate.snapshot',
      _version: '0.7.2',
      snapshot: {
        context: { authToken: '[redacted]', containers: { a: { hostPort: 1, tty: 10 } } },
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
