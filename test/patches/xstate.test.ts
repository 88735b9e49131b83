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
 *   stops when none is enabled: the same transitions, fewer allocations;
 * - a microstep whose transitions have no target runs their actions only,
 *   without computing the states to exit and enter (there are none), and one
 *   transition is not checked for conflicts with itself;
 * - `enqueueActions` hands every `collect` the same `enqueue`, pointed at
 *   that call's own list while it runs, instead of ten new closures a call;
 * - fewer allocations on every step: index loops over a state node's
 *   candidates and over a step's actions, the new context of an `assign`
 *   made in one copy, no list of actions that nothing read, results read by
 *   index instead of destructured, and the nearest common ancestor of a
 *   transition's states found by walking up through `parent`;
 * - a new snapshot's state value read from its nodes when they are a whole
 *   configuration (no Set, Maps or lists of children), the root alone (a
 *   new actor's pre-initial snapshots) read through the machine's initial
 *   configuration, found once a machine; a lone target that is not a
 *   history node taken as it is, history nodes found without two arrays,
 *   index loops over the states entered and exited, the set of completed
 *   parallel nodes made only when a final node is entered, and a state
 *   node's `invoke`, `initial`, delayed transitions and candidates for an
 *   event memoized through functions made once instead of a closure a call.
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

/** Transitions without a target: in two parallel regions, one re-entering, one raising an event that moves. */
function targetless(x: typeof XState) {
  return x.createMachine({
    types: {} as {
      context: { entries: number; log: string[] };
      events: { type: 'both' } | { type: 'again' } | { type: 'raiseMove' } | { type: 'move' };
    },
    context: { entries: 0, log: [] },
    type: 'parallel',
    states: {
      left: {
        entry: x.assign({ entries: ({ context }) => context.entries + 1 }),
        on: {
          both: { actions: x.assign({ log: ({ context }) => [...context.log, 'left'] }) },
          again: { reenter: true, actions: x.assign({ log: ({ context }) => [...context.log, 'again'] }) },
        },
      },
      right: {
        initial: 'r1',
        states: {
          r1: { on: { raiseMove: { actions: x.raise({ type: 'move' }) }, move: 'r2' } },
          r2: {},
        },
        on: { both: { actions: x.assign({ log: ({ context }) => [...context.log, 'right'] }) } },
      },
    },
  });
}

/** One `enqueueActions` that sends, while its `collect` runs, to an actor whose own `enqueueActions` then runs. */
function nestedEnqueues(x: typeof XState) {
  const inner = x.createMachine({
    types: {} as { context: { got: string[] }; events: { type: 'poke' } },
    context: { got: [] },
    on: {
      poke: {
        actions: x.enqueueActions(({ enqueue }) => {
          enqueue.assign({ got: ['inner'] });
        }),
      },
    },
  });
  const innerActor = x.createActor(inner).start();
  const kept: { enqueue?: unknown } = {};
  const outer = x
    .createMachine({
      types: {} as {
        context: { got: string[]; named: number };
        events: { type: 'go' } | { type: 'after' } | { type: 'named' };
      },
      context: { got: [], named: 0 },
      initial: 'idle',
      states: {
        idle: {
          on: {
            go: {
              actions: x.enqueueActions(({ enqueue }) => {
                kept.enqueue = enqueue;
                enqueue.assign({ got: ['before'] });
                innerActor.send({ type: 'poke' });
                enqueue('countNamed');
                enqueue.assign(({ context }) => ({ got: [...context.got, 'after'] }));
                enqueue.raise({ type: 'after' });
              }),
            },
            after: 'done',
          },
        },
        done: {},
      },
    })
    .provide({ actions: { countNamed: x.assign({ named: ({ context }) => context.named + 1 }) } });
  return { innerActor, outerActor: x.createActor(outer).start(), kept };
}

/** Guarded candidates for one event at two levels, an assign that spawns and one that does not. */
function guardedAndSpawning(x: typeof XState) {
  const child = x.createMachine({ initial: 'idle', states: { idle: {} } });
  return x.createMachine({
    types: {} as {
      context: { level: number; note: string; extra?: string };
      events: { type: 'pick' } | { type: 'note' } | { type: 'spawn' };
    },
    context: { level: 1, note: '' },
    initial: 'a',
    on: { pick: { target: '.fromParent' } },
    states: {
      a: {
        on: {
          pick: [
            { guard: ({ context }) => context.level > 5, target: 'never' },
            { guard: ({ context }) => context.level === 1, target: 'second' },
            { target: 'never' },
          ],
          note: { actions: x.assign({ note: 'noted', extra: 'added' }) },
          spawn: { actions: x.assign({ note: ({ spawn }) => spawn(child, { id: 'kid' }).id }) },
        },
      },
      second: { on: { pick: { guard: () => false, target: 'never' } } },
      never: {},
      fromParent: {},
    },
  });
}

/** Exits and entries logged across nested states: a transition leaves and enters up to the nearest common ancestor. */
function nested(x: typeof XState) {
  const order: string[] = [];
  const logged = (name: string) => ({
    entry: () => order.push(`enter ${name}`),
    exit: () => order.push(`exit ${name}`),
  });
  const machine = x.createMachine({
    types: {} as { events: { type: 'sibling' } | { type: 'away' } },
    id: 'nested',
    initial: 'p',
    states: {
      p: {
        ...logged('p'),
        initial: 'a',
        states: {
          a: {
            ...logged('a'),
            initial: 'a1',
            states: { a1: { ...logged('a1'), on: { sibling: '#nested.p.b' } } },
          },
          b: { ...logged('b'), on: { away: '#nested.q' } },
        },
      },
      q: { ...logged('q') },
    },
  });
  return { machine, order };
}

/**
 * History (shallow and deep), an invocation stopped on exit, two targets in
 * parallel regions at once, and regions that all reach a final node.
 */
function histories(x: typeof XState) {
  const order: string[] = [];
  const machine = x.createMachine({
    types: {} as {
      events:
        | { type: 'shallow' }
        | { type: 'deep' }
        | { type: 'next' }
        | { type: 'leave' }
        | { type: 'pair' }
        | { type: 'split' }
        | { type: 'finish' };
    },
    id: 'histories',
    initial: 'idle',
    states: {
      idle: {
        on: {
          shallow: 'outer.hist',
          deep: 'outer.deepHist',
          pair: { target: ['#histories.both.left.l2', '#histories.both.right.r2'] },
          split: 'both',
        },
      },
      outer: {
        exit: () => order.push('exit outer'),
        invoke: {
          src: x.fromCallback(() => {
            order.push('child started');
            return () => order.push('child stopped');
          }),
        },
        initial: 'one',
        states: {
          one: { initial: 'x', states: { x: { on: { next: 'y' } }, y: {} } },
          hist: { type: 'history' },
          deepHist: { type: 'history', history: 'deep' },
        },
        on: { leave: '#histories.idle' },
      },
      both: {
        type: 'parallel',
        states: {
          left: {
            initial: 'l1',
            states: { l1: { on: { finish: 'lDone' } }, l2: {}, lDone: { type: 'final' } },
          },
          right: {
            initial: 'r1',
            states: { r1: { on: { finish: 'rDone' } }, r2: {}, rDone: { type: 'final' } },
          },
        },
        onDone: 'finished',
      },
      finished: { type: 'final' },
    },
  });
  return { machine, order };
}

/** Machines the memo searches below must find alive: a memo lives as long as its machine's state nodes. */
const liveMachines: XState.AnyStateMachine[] = [];

type PatchedKind = 'raise' | 'log' | 'StateMachine' | 'assign';

/** A line of each change, by the kind of file it is in: present in all four builds, or `npm ci` did not patch. */
const patchedText: Record<PatchedKind, string[]> = {
  raise: [
    // the eventless search
    'for (let s = stateNode; s; s = s.parent)',
    // transitions without a target, one transition without conflicts
    'if (!isInitial && transitions.every(hasNoTarget)) {',
    'if (enabledTransitions.length === 1) {',
    // index loops and results read by index
    'for (let i = 0; i < actions.length; i++) {',
    'const resolved = builtinAction.resolve(',
    'for (let ancestor = stateNodes[0].parent; ancestor; ancestor = ancestor.parent) {',
    // state values, targets, history nodes, entered and exited states
    'if (isWholeConfiguration(stateNodes)) {',
    'const initialConfigurations = new WeakMap();',
    'return getValueFromConfiguration(rootNode, getInitialConfiguration(rootNode));',
    'if (transition.target.length === 1 && !isHistoryNode(transition.target[0])) {',
    'const historyNodes = [];',
    'const sortedStatesToEnter = [...statesToEnter].sort(',
    'completedNodes ??= new Set();',
    's.invoke.length === 0 ? s.exit : [',
    'return transitions.length === 1 ? transitions[0].actions : transitions.flatMap(',
  ],
  log: ['enqueue: sharedEnqueue,'],
  StateMachine: [
    'for (let i = 0; i < candidates.length; i++) {',
    'function memo(object, key, fn, arg) {',
    "return memo(this, 'invoke', getInvokeDefinitions);",
    "return memo(this, 'initial', getInitialTransition);",
    'getDelayedTransitions);',
    'getCandidates, eventType) :',
  ],
  assign: ['children: spawnedAny ? {'],
};

/**
 * The text of each patched file of one kind (`raise-<hash>.js` and the like):
 * one per build, four in all, or a build was left out of the patch.
 */
function chunkTexts(kind: PatchedKind): string[] {
  const names = readdirSync(dist).filter((name) => name.startsWith(`${kind}-`) && name.endsWith('.js'));
  expect(names).toHaveLength(4);
  return names.map((name) => readFileSync(path.join(dist, name), 'utf8'));
}

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

  it.each(Object.entries(patchedText))(
    'holds the patched code in every build of its %s files',
    (kind, snippets) => {
      for (const text of chunkTexts(kind as PatchedKind)) {
        for (const snippet of snippets) expect(text).toContain(snippet);
      }
    },
  );

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

    it('takes transitions without a target as XState defines them', async () => {
      const x = await load(build);
      const actor = x.createActor(targetless(x)).start();
      const first = actor.getSnapshot();
      // Both regions' transitions, in document order, in one microstep; no state left or entered.
      actor.send({ type: 'both' });
      // Re-entering with no target enters nothing again.
      actor.send({ type: 'again' });
      expect(actor.getSnapshot().context).toEqual({ entries: 1, log: ['left', 'right', 'again'] });
      expect(actor.getSnapshot().value).toBe(first.value);
      // An event raised by one is taken in the same macrostep.
      actor.send({ type: 'raiseMove' });
      expect(actor.getSnapshot().value).toEqual({ left: {}, right: 'r2' });
    });

    it('gives each enqueueActions call its own actions, a nested one too', async () => {
      const x = await load(build);
      const { innerActor, outerActor, kept } = nestedEnqueues(x);
      outerActor.send({ type: 'go' });
      expect(innerActor.getSnapshot().context.got).toEqual(['inner']);
      expect(outerActor.getSnapshot().context).toEqual({ got: ['before', 'after'], named: 1 });
      expect(outerActor.getSnapshot().value).toBe('done');
      // An enqueue kept past its call adds nothing anywhere, as before.
      const late = kept.enqueue as { assign: (values: object) => void };
      expect(() => late.assign({ got: ['late'] })).not.toThrow();
      innerActor.send({ type: 'poke' });
      expect(outerActor.getSnapshot().context.got).toEqual(['before', 'after']);
      expect(innerActor.getSnapshot().context.got).toEqual(['inner']);
    });

    it('leaves and enters states up to the nearest common ancestor', async () => {
      const x = await load(build);
      const { machine, order } = nested(x);
      const actor = x.createActor(machine).start();
      actor.send({ type: 'sibling' });
      expect(actor.getSnapshot().value).toEqual({ p: 'b' });
      actor.send({ type: 'away' });
      expect(actor.getSnapshot().value).toBe('q');
      expect(order).toEqual([
        'enter p',
        'enter a',
        'enter a1',
        'exit a1',
        'exit a',
        'enter b',
        'exit b',
        'exit p',
        'enter q',
      ]);
    });

    it('picks the first candidate whose guard passes, else the parent transition', async () => {
      const x = await load(build);
      const actor = x.createActor(guardedAndSpawning(x)).start();
      actor.send({ type: 'pick' });
      expect(actor.getSnapshot().value).toBe('second');
      // None of the state's own passes: the parent's transition is taken.
      actor.send({ type: 'pick' });
      expect(actor.getSnapshot().value).toBe('fromParent');
    });

    it('assigns every key into a new context, the children kept unless one is spawned', async () => {
      const x = await load(build);
      const actor = x.createActor(guardedAndSpawning(x)).start();
      const before = actor.getSnapshot();
      actor.send({ type: 'note' });
      const noted = actor.getSnapshot();
      expect(noted.context).toEqual({ level: 1, note: 'noted', extra: 'added' });
      expect(before.context).toEqual({ level: 1, note: '' });
      expect(noted.children).toBe(before.children);
      actor.send({ type: 'spawn' });
      const spawned = actor.getSnapshot();
      expect(spawned.context.note).toBe('kid');
      expect(Object.keys(spawned.children)).toEqual(['kid']);
      expect(spawned.children['kid']?.getSnapshot().value).toBe('idle');
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

    it('restores shallow and deep history and stops an invoked child on exit', async () => {
      const x = await load(build);
      const { machine, order } = histories(x);
      const actor = x.createActor(machine).start();
      // No history yet: the deep history's default is its parent's initial state.
      actor.send({ type: 'deep' });
      expect(actor.getSnapshot().value).toEqual({ outer: { one: 'x' } });
      actor.send({ type: 'next' });
      actor.send({ type: 'leave' });
      expect(actor.getSnapshot().value).toBe('idle');
      // Shallow: the child state only, entered at its own initial state.
      actor.send({ type: 'shallow' });
      expect(actor.getSnapshot().value).toEqual({ outer: { one: 'x' } });
      actor.send({ type: 'next' });
      actor.send({ type: 'leave' });
      // Deep: the atomic state itself.
      actor.send({ type: 'deep' });
      expect(actor.getSnapshot().value).toEqual({ outer: { one: 'y' } });
      actor.send({ type: 'leave' });
      expect(order).toEqual([
        'child started',
        'exit outer',
        'child stopped',
        'child started',
        'exit outer',
        'child stopped',
        'child started',
        'exit outer',
        'child stopped',
      ]);
      const outer = machine.root.states['outer']!;
      expect(outer.invoke).toBe(outer.invoke);
      expect(outer.initial).toBe(outer.initial);
      expect(outer.initial.target.map((node) => node.key)).toEqual(['one']);
    });

    it('enters two targets in parallel regions and finishes when every region is final', async () => {
      const x = await load(build);
      const paired = x.createActor(histories(x).machine).start();
      paired.send({ type: 'pair' });
      expect(paired.getSnapshot().value).toEqual({ both: { left: 'l2', right: 'r2' } });
      const split = x.createActor(histories(x).machine).start();
      split.send({ type: 'split' });
      expect(split.getSnapshot().value).toEqual({ both: { left: 'l1', right: 'r1' } });
      split.send({ type: 'finish' });
      expect(split.getSnapshot().value).toBe('finished');
      expect(split.getSnapshot().status).toBe('done');
    });

    it('takes a delayed transition after its delay, and none once its state is left', async () => {
      const x = await load(build);
      const machine = x.createMachine({
        types: {} as { events: { type: 'leave' } },
        initial: 'waiting',
        states: {
          waiting: { after: { 20: 'late' }, on: { leave: 'left' } },
          late: {},
          left: {},
        },
      });
      const waited = x.createActor(machine).start();
      const left = x.createActor(machine).start();
      left.send({ type: 'leave' });
      await new Promise((resolve) => setTimeout(resolve, 80));
      expect(waited.getSnapshot().value).toBe('late');
      expect(left.getSnapshot().value).toBe('left');
      const waiting = machine.root.states['waiting']!;
      expect(waiting.after).toHaveLength(1);
      expect(waiting.after[0]!.delay).toBe(20);
    });

    it('resolves partial and whole state values alike', async () => {
      const x = await load(build);
      const { machine } = histories(x);
      expect(machine.resolveState({ value: 'both' }).value).toEqual({ both: { left: 'l1', right: 'r1' } });
      expect(machine.resolveState({ value: { both: { right: 'r2' } } }).value).toEqual({
        both: { left: 'l1', right: 'r2' },
      });
      expect(machine.resolveState({ value: 'outer' }).value).toEqual({ outer: { one: 'x' } });
      expect(x.createActor(machine).getSnapshot().value).toBe('idle');
    });

    it('gives the snapshots made before the first step the initial value, each its own copy', async () => {
      const x = await load(build);
      // A context that cannot be made leaves the actor at its pre-initial snapshot, with an error.
      const machine = x.createMachine({
        context: (): Record<string, never> => {
          throw new Error('no context');
        },
        type: 'parallel',
        states: {
          left: { initial: 'l1', states: { l1: {} } },
          right: { initial: 'r1', states: { r1: { initial: 'deep', states: { deep: {} } } } },
          flag: {},
        },
      });
      const first = x.createActor(machine).getSnapshot();
      const second = x.createActor(machine).getSnapshot();
      expect(first.status).toBe('error');
      expect(first.value).toEqual({ left: 'l1', right: { r1: 'deep' }, flag: {} });
      expect(second.value).toEqual(first.value);
      expect(second.value).not.toBe(first.value);
      expect((second.value as Record<string, unknown>)['right']).not.toBe(
        (first.value as Record<string, unknown>)['right'],
      );
      const atomic = x.createMachine({
        context: (): Record<string, never> => {
          throw new Error('no context');
        },
        initial: 'only',
        states: { only: {} },
      });
      expect(x.createActor(atomic).getSnapshot().value).toBe('only');
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
