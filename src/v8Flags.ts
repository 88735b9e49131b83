/**
 * Imported by main.ts before the service's own modules, so that everything
 * V8 optimizes is optimized with these settings. NODE_OPTIONS refuses these
 * flags and a single executable has no command line of its own, so they are
 * set here; V8 reads them each time it starts an optimizing compile.
 *
 * `--no-turbo-inlining`: a host's work comes one container and one request
 * at a time, so the same functions of XState, Node's streams and ours only
 * slowly become hot, and TurboFan keeps compiling them, with everything they
 * call inlined, for hundreds of lifecycles; an inlined callee that meets a new
 * object shape throws the whole compile away, and it is made again. Without
 * inlining each compile is smaller and survives more. Measured with callgrind
 * on the built service, 200 lifecycles one at a time, each with two DPI
 * requests on new connections: 17% fewer instructions over the 200 and 20%
 * fewer in the last 50; DPI back to back on a warm connection costs the same
 * CPU per request (README, "Compiles that do not pay back").
 */
import { setFlagsFromString } from 'node:v8';

export const V8_FLAGS = ['--no-turbo-inlining'] as const;

for (const flag of V8_FLAGS) setFlagsFromString(flag);
