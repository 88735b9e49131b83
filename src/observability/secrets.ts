/**
 * What never leaves the process: a value under a key that names a
 * credential, wherever it sits. Log lines and the inspector's events both go
 * through here, so the two cannot disagree about what a secret is.
 */

export const REDACTED = '[redacted]';
/** Keys whose values never leave the process, wherever they sit in a log object, a context or an event. */
const SECRET_KEY = /secret|token|password|authorization|credential|^env$/i;
const MAX_DEPTH = 12;

export function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object') return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/**
 * A copy of `value` with every credential-looking field replaced, made for
 * sending out whole: errors become their name and message, and actor
 * references, subscriptions and other live objects (large and cyclic) become
 * their class name.
 */
export function redactSecrets(value: unknown, depth = 0): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_DEPTH) return '[too deep]';
  if (Array.isArray(value)) return value.map((v) => redactSecrets(v, depth + 1));
  if (value instanceof Error) return { name: value.name, message: value.message };
  // The host keeps its bookkeeping in Maps and Sets: the inspector shows them as records and lists.
  if (value instanceof Map) {
    return redactSecrets(Object.fromEntries([...value].map(([k, v]) => [String(k), v])), depth);
  }
  if (value instanceof Set) return redactSecrets([...value], depth);
  if (!isPlainObject(value)) {
    const proto = Object.getPrototypeOf(value) as { constructor?: { name?: string } } | null;
    return `[${proto?.constructor?.name ?? 'object'}]`;
  }
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    out[key] = isSecretKey(key) && v !== undefined ? REDACTED : redactSecrets(v, depth + 1);
  }
  return out;
}

/**
 * The same rule for a log record, which is written once per line. Plain
 * objects, arrays and errors (whose own fields a logger prints too: an HTTP
 * client's error carries the request) are walked; other class instances,
 * such as sealed values, are left to their own serialization. Nothing is
 * copied unless a secret is found, so a line without one costs a walk of its
 * few keys. An error with a secret becomes a plain record of its name,
 * message, stack and other fields.
 */
export function withoutSecrets<T>(value: T, depth = 0): T {
  if (depth >= MAX_DEPTH || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    value.forEach((v, i) => {
      const clean = withoutSecrets(v as unknown, depth + 1);
      if (clean !== v) (copy ??= [...(value as unknown[])])[i] = clean;
    });
    return (copy ?? value) as T;
  }
  const isError = value instanceof Error;
  if (!isError && !isPlainObject(value)) return value;
  const fields = value as Record<string, unknown>;
  let copy: Record<string, unknown> | undefined;
  // `for ... in` walks a line's object without making an array of its keys, as `Object.keys` did.
  for (const key in fields) {
    if (!Object.hasOwn(fields, key)) continue;
    const v = fields[key];
    const clean = isSecretKey(key) && v !== undefined ? REDACTED : withoutSecrets(v, depth + 1);
    if (clean === v) continue;
    copy ??= isError
      ? { type: value.name, message: value.message, stack: value.stack, ...fields }
      : { ...fields };
    copy[key] = clean;
  }
  return (copy ?? value) as T;
}
