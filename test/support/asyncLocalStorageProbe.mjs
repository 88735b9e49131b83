// Loaded with `--import` into a service under test: says on stderr, as a line
// that is not JSON, whenever anything runs an AsyncLocalStorage. On Node 20 the
// first run leaves async hooks on for the life of the process, and every
// promise, timer and socket then pays for them (src/observability/sentryTransport.ts).
import { AsyncLocalStorage } from 'node:async_hooks';

for (const method of ['run', 'enterWith']) {
  const original = AsyncLocalStorage.prototype[method];
  AsyncLocalStorage.prototype[method] = function (...args) {
    const caller = new Error().stack?.split('\n')[2]?.trim() ?? 'unknown';
    process.stderr.write(`AsyncLocalStorage.${method} ${caller}\n`);
    return original.apply(this, args);
  };
}
