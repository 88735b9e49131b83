import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeSentryTransport } from '../../src/observability/sentryTransport.js';
import { startSentryStandIn, type SentryStandIn } from '../support/standins/sentry.js';

type Transport = ReturnType<typeof makeSentryTransport>;
type Envelope = Parameters<Transport['send']>[0];

const errorEnvelope = (message: string): Envelope =>
  [{ event_id: 'a'.repeat(32) }, [[{ type: 'event' }, { message, level: 'error' }]]] as unknown as Envelope;

let sentry: SentryStandIn;
const dropped: string[] = [];

/** The transport as the SDK makes it for a DSN of the stand-in (its URL and headers are the SDK's). */
function transportFor(timeoutMs?: number): Transport {
  return makeSentryTransport(
    {
      url: `${sentry.url}/api/1/envelope/?sentry_key=publickey&sentry_version=7`,
      headers: { 'X-Test': 'yes' },
      recordDroppedEvent: (reason, category) => dropped.push(`${reason}:${category}`),
    },
    timeoutMs,
  );
}

beforeAll(async () => {
  sentry = await startSentryStandIn();
});

afterAll(async () => {
  await sentry.close();
});

describe('the Sentry transport', () => {
  it('posts the envelope to the DSN with the headers the SDK gives', async () => {
    const answer = await transportFor().send(errorEnvelope('sent'));
    expect(answer.statusCode).toBe(200);
    const request = sentry.requests.at(-1)!;
    expect(request.method).toBe('POST');
    expect(request.path).toBe('/api/1/envelope/?sentry_key=publickey&sentry_version=7');
    expect(request.headers['x-test']).toBe('yes');
    expect(sentry.events().some((e) => (e as { message?: string }).message === 'sent')).toBe(true);
  });

  it("hands Sentry's rate limits to the SDK, which then holds back what they cover", async () => {
    sentry.setHandler(() => ({
      status: 429,
      body: '',
      headers: { 'Retry-After': '60', 'X-Sentry-Rate-Limits': '60:error:organization' },
    }));
    const transport = transportFor();
    const answer = await transport.send(errorEnvelope('limited'));
    expect(answer.statusCode).toBe(429);
    expect(answer.headers).toEqual({ 'retry-after': '60', 'x-sentry-rate-limits': '60:error:organization' });
    const before = sentry.requests.length;
    dropped.length = 0;
    await transport.send(errorEnvelope('held back'));
    expect(sentry.requests).toHaveLength(before);
    expect(dropped).toEqual(['ratelimit_backoff:error']);
    sentry.setHandler(() => ({ status: 200, body: { id: 'ok' } }));
  });

  it('gives up on a Sentry that does not answer, after its timeout', async () => {
    sentry.setHandler(() => ({ status: 200, hang: true }));
    const started = Date.now();
    await expect(transportFor(300).send(errorEnvelope('unanswered'))).rejects.toThrow(
      'Sentry did not answer within 300 ms',
    );
    expect(Date.now() - started).toBeLessThan(3_000);
    sentry.setHandler(() => ({ status: 200, body: { id: 'ok' } }));
  });

  it('fails a send when nothing listens', async () => {
    const closed = await startSentryStandIn();
    const url = `${closed.url}/api/1/envelope/`;
    await closed.close();
    const transport = makeSentryTransport({ url, recordDroppedEvent: () => {} });
    await expect(transport.send(errorEnvelope('nowhere'))).rejects.toThrow(/ECONNREFUSED/);
  });
});
