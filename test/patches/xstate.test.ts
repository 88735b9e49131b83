/**
 * patches/xstate+*.patch, in each of the package's four builds (which one
 * runs depends on the loader: Node's `import`, esbuild's bundle, vitest):
 *
 * - a snapshot cloned with the same state nodes (an `assign`, a spawn, a stop
 *   of a child) keeps its state value and tags instead of computing them again;
 * - a state node memoizes its transitions only for the event types it has
 *   one for: the memo kept every `xstate.done.actor.<id>` that reached it,
 *   one a container lifecycle for each of the host's state nodes, for good;
 * - the search for eventless (`always`) transitions after every microstep
 *   walks each atomic node's ancestors without making an array of them, and
 *   stops when none is enabled: the same transitions, fewer allocations.
 *
 * These tests fail if `npm ci` did not apply the patch, or if an XState
 * upgrade left a build of it unpatched.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import v8 from 'node:v8';
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

/** Starts and ends `count` children called `<prefix>-<n>`: the parent takes each one's done event. */
function endChildren(x: typeof XState, prefix: string, count: number): void {
  const child = x.createMachine({ initial: 'over', states: { over: { type: 'final' } } });
  const parent = x.createMachine({
    types: {} as { events: { type: 'spawn'; id: string } },
    initial: 'waiting',
    states: { waiting: { initial: 'idle', states: { idle: {} } } },
    on: {
      spawn: {
        actions: x.enqueueActions(({ enqueue, event }) => enqueue.spawnChild(child, { id: event.id })),
      },
    },
  });
  liveMachines.push(parent);
  const actor = x.createActor(parent).start();
  for (let n = 0; n < count; n++) actor.send({ type: 'spawn', id: `${prefix}-${n}` });
  actor.stop();
}

/** Eventless transitions at two levels, with guards, in parallel regions, and one never enabled. */
function eventless(x: typeof XState) {
  return x.createMachine({
    types: {} as { context: { n: number }; events: { type: 'go' } | { type: 'split' } | { type: 'bump' } },
    context: { n: 0 },
    initial: 'idle',
    states: {
      idle: { on: { go: 'outer', split: 'both', bump: 'counting' } },
      outer: {
        always: { target: 'fromOuter' },
        initial: 'inner',
        states: {
          inner: {
            always: [
              { guard: () => false, target: '#eventless.refused' },
              { guard: () => true, target: '#eventless.fromInner' },
            ],
          },
        },
      },
      fromOuter: {},
      fromInner: {},
      refused: {},
      both: {
        type: 'parallel',
        states: {
          left: { initial: 'l1', states: { l1: { always: 'l2' }, l2: {} } },
          right: { initial: 'r1', states: { r1: { always: 'r2' }, r2: {} } },
        },
      },
      counting: {
        on: { bump: { actions: x.assign({ n: ({ context }) => context.n + 1 }) } },
        always: { guard: ({ context }) => context.n >= 2, target: 'enough' },
      },
      enough: {},
    },
    id: 'eventless',
  });
}

/** Machines the memo searches below must find alive: a memo lives as long as its machine's state nodes. */
const liveMachines: XState.AnyStateMachine[] = [];

/** Whether a string made of `parts` is anywhere in this process's heap; the parts are never joined into one. */
async function heapHolds(parts: string[]): Promise<boolean> {
  const needle = Buffer.concat(parts.map((part) => Buffer.from(part)));
  let tail = Buffer.alloc(0);
  for await (const chunk of v8.getHeapSnapshot()) {
    const window = Buffer.concat([tail, chunk as Buffer]);
    if (window.includes(needle)) return true;
    tail = window.subarray(Math.max(0, window.length - needle.length));
  }
  return false;
}

describe('the xstate patch', () => {
  it('covers the four builds', () => {
    expect([...builds].sort()).toEqual([
      'xstate.cjs.js',
      'xstate.development.cjs.js',
      'xstate.development.esm.js',
      'xstate.esm.js',
    ]);
  });

  it('walks the eventless transitions without an array of ancestors in every build', () => {
    const raise = readdirSync(dist).filter((name) => /^raise-.*\.js$/.test(name));
    expect(raise).toHaveLength(4);
    for (const name of raise) {
      expect(readFileSync(path.join(dist, name), 'utf8')).toContain(
        'for (let s = stateNode; s; s = s.parent)',
      );
    }
  });

  describe.each(builds)('in %s', (build) => {
    it('takes eventless transitions as XState defines them', async () => {
      const x = await load(build);
      const settle = (...events: ('go' | 'split' | 'bump')[]) => {
        const actor = x.createActor(eventless(x)).start();
        for (const type of events) actor.send({ type });
        return actor.getSnapshot().value;
      };
      // The atomic node's own first enabled one, before its ancestor's.
      expect(settle('go')).toBe('fromInner');
      // One in each parallel region, in the same macrostep.
      expect(settle('split')).toEqual({ both: { left: 'l2', right: 'r2' } });
      // None while the guard fails; then the one the new context enables.
      expect(settle('bump')).toBe('counting');
      expect(settle('bump', 'bump')).toBe('counting');
      expect(settle('bump', 'bump', 'bump')).toBe('enough');
    });

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

    it('keeps nothing of the done events of children that ended', async () => {
      const x = await load(build);
      const prefix = `ended-${build.replaceAll('.', '-')}-${process.pid}`;
      endChildren(x, prefix, 20);
      expect(await heapHolds(['candidates-', 'xstate.done.actor.', prefix])).toBe(false);
      // The search itself finds what a memo keeps: a type the machine has a transition for.
      const kept = `${prefix}-kept`;
      const machine = x.createMachine({ on: { [`probe.${kept}`]: {} } });
      liveMachines.push(machine);
      x.createActor(machine)
        .start()
        .send({ type: `probe.${kept}` });
      expect(await heapHolds(['candidates-', 'probe.', kept])).toBe(true);
    });
  });
});
