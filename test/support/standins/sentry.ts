/**
 * Sentry's ingest endpoint: accepts envelopes at /api/<project>/envelope/
 * and parses them into their items, so tests can read the events sent.
 */
import { startHttpStandIn, type HttpStandIn } from './httpStandIn.js';

export interface EnvelopeItem {
  header: { type?: string; [key: string]: unknown };
  payload: Record<string, unknown>;
}

export interface SentryEvent {
  release?: string;
  environment?: string;
  tags?: Record<string, string>;
  contexts?: Record<string, Record<string, unknown>>;
  exception?: { values?: { type?: string; value?: string }[] };
  level?: string;
  at: number;
}

export interface SentryStandIn extends HttpStandIn {
  dsn: string;
  events(): SentryEvent[];
}

/** Envelope: a header line, then pairs of item-header and item-payload lines. */
export function parseEnvelope(text: string): EnvelopeItem[] {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const items: EnvelopeItem[] = [];
  for (let i = 1; i + 1 < lines.length; i += 2) {
    items.push({
      header: JSON.parse(lines[i]!) as EnvelopeItem['header'],
      payload: JSON.parse(lines[i + 1]!) as Record<string, unknown>,
    });
  }
  return items;
}

export async function startSentryStandIn(): Promise<SentryStandIn> {
  const standIn = await startHttpStandIn((request) =>
    /^\/api\/\d+\/envelope\/?/.test(request.path)
      ? { status: 200, body: { id: 'ok' } }
      : { status: 404, body: 'not found' },
  );
  return {
    ...standIn,
    dsn: `http://publickey@127.0.0.1:${standIn.port}/1`,
    events: () =>
      standIn.requests
        .filter((r) => r.path.includes('/envelope'))
        .flatMap((r) =>
          parseEnvelope(r.body)
            .filter((item) => item.header.type === 'event')
            .map((item) => ({ ...(item.payload as object), at: r.at }) as SentryEvent),
        ),
  };
}
