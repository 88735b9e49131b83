/**
 * patches/xstate+*.patch, in each of the package's four builds (which one
 * runs depends on the loader: Node's `import`, esbuild's bundle, vitest):
 * a snapshot cloned with the same state nodes (an `assign`, a spawn, a stop
 * of a child) keeps its state value and tags instead of computing them again.
 *
 * These tests fail if `npm ci` did not apply the patch, or if an XState
 * upgrade left a build of it unpatched.
 */
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import type * as XState from 'xstate';

const require = createRequire(import.meta.url);
const dist = path.dirname(require.resolve('xstate'));
const builds = readdirSync(dist).filter((name) => /^xstate(\.development)?\.(cjs|esm)\.js$/.test(name));

async function load(build: string): Promise<typeof XState> {
  const file = path.join(dist, build);
  return build.includes('.cjs.')
    ? (require(file) as typeof XState)
    : ((await import(pathToFileURL(file).href)) as typeof XState);
}

function counter(x: typeof XState) {
  return x.createMachine({
    types: {} as { context: { count: number }; events: { type: 'count' } | { type: 'move' } },
    context: { count: 0 },
    initial: 'a',
    on: { count: { actions: x.assign({ count: ({ context }) => context.count + 1 }) } },
    states: {
      a: { tags: ['first'], initial: 'inner', states: { inner: {} }, on: { move: 'b' } },
      b: { tags: ['second'] },
    },
  });
}

describe('the xstate patch', () => {
  it('covers the four builds', () => {
    expect(builds.sort()).toEqual([
      'xstate.cjs.js',
      'xstate.development.cjs.js',
      'xstate.development.esm.js',
      'xstate.esm.js',
    ]);
  });

  describe.each(builds)('in %s', (build) => {
    it('keeps the value and the tags when only the context changes', async () => {
      const x = await load(build);
      const actor = x.createActor(counter(x)).start();
      const before = actor.getSnapshot();
      actor.send({ type: 'count' });
      const after = actor.getSnapshot();
      expect(after).not.toBe(before);
      expect(after.context.count).toBe(1);
      expect(after.value).toBe(before.value);
      expect(after.tags).toBe(before.tags);
      expect(after.value).toEqual({ a: 'inner' });
      expect(after.hasTag('first')).toBe(true);
    });

    it('computes them again when the state changes', async () => {
      const x = await load(build);
      const actor = x.createActor(counter(x)).start();
      const before = actor.getSnapshot();
      actor.send({ type: 'move' });
      actor.send({ type: 'count' });
      const after = actor.getSnapshot();
      expect(after.value).toBe('b');
      expect([...after.tags]).toEqual(['second']);
      expect(after.context.count).toBe(1);
      expect(before.value).toEqual({ a: 'inner' });
      expect([...before.tags]).toEqual(['first']);
    });
  });
});
