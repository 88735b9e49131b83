/**
 * Imported by main.ts before the service's own modules, so that everything
 * V8 optimizes is optimized with this setting. NODE_OPTIONS refuses the flag
 * and a single executable has no command line of its own, so it is set here;
 * V8 reads it each time it starts an optimizing compile.
 *
 * `--max-inlined-bytecode-size=60` (V8's default is 460): TurboFan inlines
 * small functions only. A host's work comes one container and one request at
 * a time, so the same functions of XState, Node's streams and ours only
 * slowly become hot, and TurboFan keeps compiling them for hundreds of
 * lifecycles, each with its callees inlined; a callee that meets a new object
 * shape throws the whole compile away, and it is made again. Smaller compiles
 * cost less and survive more. Measured with callgrind on the built service
 * (bench/MEASUREMENTS.md, "Compiles that do not pay back"): about a sixth fewer instructions
 * over 200 lifecycles one at a time, a fifth fewer a cold lifecycle or a
 * spaced-out DPI request, and the same per request on a warm connection,
 * where no inlining at all cost 8-16% more.
 *
 * `--compact-on-every-full-gc`: a full GC also moves the survivors of a
 * sparse old-space page together and frees the page. A burst of containers
 * leaves many objects that lived just long enough to be promoted and then
 * died; V8's own heuristics left their pages in place, and the idle service
 * kept them resident: after the containers benchmark's 1,000 lifecycles, old
 * space held 16 MB for 10 MB of live objects, and the idle RSS was 72.7 MB.
 * With the flag, in the same hour: 10.7 MB for 9.9, and 67.4 MB. Full GCs
 * are rare here (a heap of about 10 MB): over 200 lifecycles with DPI
 * requests its cost was within the spread between runs (callgrind, two
 * pairs), and nothing on a warm DPI request.
 */
import { setFlagsFromString } from 'node:v8';

setFlagsFromString('--max-inlined-bytecode-size=60');
setFlagsFromString('--compact-on-every-full-gc');
