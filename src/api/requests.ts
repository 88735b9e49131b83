/**
 * The pure part of the HTTPS API: which paths exist, the secret check, the
 * field schemas and the provider names. No I/O here, so all of it is unit
 * tested directly.
 */
import { timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { Sealed, type ApiRequest } from '../../machines/events.js';

export const MAX_BODY_BYTES = 64 * 1024;

/** Response texts, fixed so that tests and the webserver's logs can rely on them. */
export const TEXT = {
  notFound: 'not found',
  bodyTooLarge: `request body larger than ${MAX_BODY_BYTES} bytes`,
  notJson: 'request body is not JSON',
  notObject: 'request body is not a JSON object',
  secretMissing: 'auth_secret is missing',
  secretWrong: 'auth_secret is wrong',
  methodNotAllowed: (method: string, allowed: string) => `method ${method} not allowed; use ${allowed}`,
  badField: (field: string, expected: string) => `bad field ${field}: expected ${expected}`,
  missingField: (field: string, expected: string) => `missing field ${field}: expected ${expected}`,
} as const;

/**
 * True when `given` is the configured secret. The length is compared first
 * (it is not secret); the bytes in constant time. An empty configured secret
 * matches nothing, so a host without one refuses every request.
 */
export function secretMatches(given: string, expected: string): boolean {
  const a = Buffer.from(given, 'utf8');
  const b = Buffer.from(expected, 'utf8');
  if (b.length === 0 || a.length !== b.length) return false;
  return timingSafeEqual(a, b);
}

/** Spaces become `_`, then only `[A-Za-z0-9_]` is kept (the contract's rule). */
export function sanitiseProvider(raw: string): string {
  return raw.replace(/ /g, '_').replace(/[^A-Za-z0-9_]/g, '');
}

const hostPort = z.number().int().min(1).max(65535);
const text = z.string();

/** What each field must be, in the words the 400 answer uses. */
const EXPECTED: Record<string, string> = {
  host_port: 'an integer from 1 to 65535',
  dpi: 'an integer from 1 to 10000',
};

const setDpiBody = z.object({ host_port: hostPort, dpi: z.number().int().min(1).max(10_000) });

const mountBody = z.object({
  host_port: hostPort,
  provider: text,
  access_token: text,
  refresh_token: text,
  expiry: text,
  token_type: text,
  client_id: text,
  client_secret: text,
});

/** A body that passed the schema: either a request for the host, or a 406 the API answers itself. */
export type Parsed =
  | { ok: true; request: ApiRequest }
  /** Answered by the API itself from the live actors, not routed to a container. */
  | { ok: true; stateSnapshot: true }
  | { ok: false; status: 400; text: string }
  | { ok: false; status: 406; error: string };

export interface Endpoint {
  method: 'PUT' | 'POST';
  parse(body: Record<string, unknown>, knownProviders: ReadonlySet<string>): Parsed;
}

/** The first field the schema refused, named as missing when the body does not have it at all. */
function badField(error: z.ZodError, body: Record<string, unknown>): Parsed {
  const field = String(error.issues[0]?.path[0] ?? 'body');
  const describe = Object.hasOwn(body, field) ? TEXT.badField : TEXT.missingField;
  return { ok: false, status: 400, text: describe(field, EXPECTED[field] ?? 'a string') };
}

export const ENDPOINTS: Record<string, Endpoint> = {
  // Not part of the webserver's contract: for engineers and scripts (`make status`), same secret.
  '/state_snapshot': { method: 'POST', parse: () => ({ ok: true, stateSnapshot: true }) },
  '/set_container_dpi': {
    method: 'PUT',
    parse: (body) => {
      const parsed = setDpiBody.safeParse(body);
      if (!parsed.success) return badField(parsed.error, body);
      return { ok: true, request: { kind: 'setDpi', hostPort: parsed.data.host_port, dpi: parsed.data.dpi } };
    },
  },
  '/mount_cloud_storage': {
    method: 'POST',
    parse: (body, knownProviders) => {
      const parsed = mountBody.safeParse(body);
      if (!parsed.success) return badField(parsed.error, body);
      const b = parsed.data;
      const provider = sanitiseProvider(b.provider);
      if (provider === '') {
        return { ok: false, status: 406, error: 'the provider name has no letters, digits or underscores' };
      }
      if (!knownProviders.has(provider)) {
        return {
          ok: false,
          status: 406,
          error: `unknown cloud storage provider ${provider} (known: ${[...knownProviders].sort().join(', ')})`,
        };
      }
      return {
        ok: true,
        request: {
          kind: 'mountCloudStorage',
          hostPort: b.host_port,
          provider,
          credentials: new Sealed({
            accessToken: b.access_token,
            refreshToken: b.refresh_token,
            expiry: b.expiry,
            tokenType: b.token_type,
            clientId: b.client_id,
            clientSecret: b.client_secret,
          }),
        },
      };
    },
  },
};
