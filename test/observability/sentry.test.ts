import { AsyncLocalStorage, executionAsyncResource } from 'node:async_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSentryReporter } from '../../src/observability/sentry.js';
import { startSentryStandIn, type SentryStandIn } from '../support/standins/sentry.js';

/**
 * Whether an AsyncLocalStorage has turned Node's async hooks on: each then
 * marks every new async resource (here a timer) with its store's symbol.
 */
function asyncStoresFollowResources(): Promise<boolean> {
  return new Promise((resolve) =>
    setTimeout(() => {
      const marks = Object.getOwnPropertySymbols(executionAsyncResource());
      resolve(marks.some((mark) => mark.description === 'kResourceStore'));
    }, 0),
  );
}

let sentry: SentryStandIn;
let reporter: ReturnType<typeof createSentryReporter>;

beforeAll(async () => {
  sentry = await startSentryStandIn();
  reporter = createSentryReporter({ dsn: sentry.dsn, release: 'test-release', environment: 'test' });
});

afterAll(async () => {
  await sentry.close();
});

const eventOf = (message: string) =>
  sentry.events().find((e) => e.exception?.values?.some((v) => v.value === message));

describe('the Sentry reporter', () => {
  it("sends an error with its container's context and tags", async () => {
    reporter.report(new Error('setup failed'), { containerId: 'c0ffee', hostPort: 32262, origin: undefined });
    expect(await reporter.flush(5_000)).toBe(true);
    const event = eventOf('setup failed');
    expect(event, JSON.stringify(sentry.events())).toBeDefined();
    expect(event!.release).toBe('test-release');
    expect(event!.tags).toMatchObject({ containerId: 'c0ffee', hostPort: '32262' });
    expect(event!.contexts?.['container']).toEqual({ containerId: 'c0ffee', hostPort: 32262 });
  });

  it("keeps one report's context out of the next", async () => {
    reporter.report(new Error('first'), { containerId: 'aaa111', hostPort: 40000 });
    reporter.report(new Error('second'), {});
    expect(await reporter.flush(5_000)).toBe(true);
    const second = eventOf('second');
    expect(second).toBeDefined();
    expect(second!.tags?.['containerId']).toBeUndefined();
    expect(second!.tags?.['hostPort']).toBeUndefined();
    expect(second!.contexts?.['container']).toBeUndefined();
    expect(eventOf('first')!.tags).toMatchObject({ containerId: 'aaa111' });
  });

  it('leaves async hooks off after a report: otherwise every promise, timer and socket pays for them', async () => {
    reporter.report(new Error('any'), { containerId: 'bbb222' });
    await reporter.flush(5_000);
    expect(await asyncStoresFollowResources()).toBe(false);
  });

  // Last: once an AsyncLocalStorage has run, the hooks stay on in this process.
  it('(the check above sees the hooks once an AsyncLocalStorage has run)', async () => {
    new AsyncLocalStorage().run({}, () => {});
    expect(await asyncStoresFollowResources()).toBe(true);
  });
});
