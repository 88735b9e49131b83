/**
 * The coverage check itself, on a small machine with one transition of each
 * kind: guarded event branches, eventless branches, a delay, an invocation's
 * result and error, and an event raised mid-macrostep.
 */
import { describe, expect, it } from 'vitest';
import { assign, createActor, fromPromise, raise, setup, toPromise } from 'xstate';
import { allTransitions, transitionRecorder } from './transitionCoverage.js';
import { waitFor } from './wait.js';

const machine = setup({
  types: {
    context: {} as { n: number; pongs: number },
    events: {} as { type: 'go'; n: number } | { type: 'ping' } | { type: 'pong' },
  },
  actors: {
    work: fromPromise<number, { fail: boolean }>(async ({ input }) => {
      if (input.fail) throw new Error('refused');
      return 1;
    }),
  },
  guards: {
    big: ({ context }) => context.n > 5,
    negative: (_, params: { n: number }) => params.n < 0,
  },
  delays: { short: 1 },
}).createMachine({
  id: 'sample',
  context: { n: 0, pongs: 0 },
  initial: 'idle',
  on: {
    ping: { actions: raise({ type: 'pong' }) },
    pong: { actions: assign({ pongs: ({ context }) => context.pongs + 1 }) },
  },
  states: {
    idle: {
      on: {
        go: [
          { guard: { type: 'negative', params: ({ event }) => event }, target: 'failing' },
          { target: 'checking', actions: assign({ n: ({ event }) => event.n }) },
        ],
      },
    },
    checking: { always: [{ guard: 'big', target: 'working' }, { target: 'waiting' }] },
    waiting: { after: { short: 'idle' } },
    working: { invoke: { src: 'work', input: { fail: false }, onDone: 'done', onError: 'idle' } },
    failing: { invoke: { src: 'work', input: { fail: true }, onError: 'idle' } },
    done: { type: 'final' },
  },
});

const keys = {
  ping: 'sample | ping | 0',
  pong: 'sample | pong | 0',
  goNegative: 'sample.idle | go | 0',
  go: 'sample.idle | go | 1',
  big: 'sample.checking | always | 0',
  small: 'sample.checking | always | 1',
  waited: 'sample.waiting | xstate.after.short.sample.waiting | 0',
  worked: 'sample.working | xstate.done.actor.sample.working | 0',
  workFailed: 'sample.working | xstate.error.actor.sample.working | 0',
  refused: 'sample.failing | xstate.error.actor.sample.failing | 0',
};

describe('transition coverage', () => {
  it('lists every transition of the definition, eventless, delayed and invocation results included', () => {
    expect(allTransitions(machine)).toEqual(new Set(Object.values(keys)));
  });

  it('records exactly the transitions an actor takes, each under its own index', async () => {
    const recorder = transitionRecorder('sample');
    const actor = createActor(machine, { inspect: recorder.inspect }).start();
    actor.send({ type: 'go', n: 10 });
    await toPromise(actor);
    expect(recorder.taken).toEqual(new Set([keys.go, keys.big, keys.worked]));
  });

  it('tells an eventless step from a raised event, and sees delays and errors', async () => {
    const recorder = transitionRecorder('sample');
    const actor = createActor(machine, { inspect: recorder.inspect }).start();
    actor.send({ type: 'go', n: 1 });
    await waitFor('the delay back to idle', () => actor.getSnapshot().matches('idle'));
    actor.send({ type: 'ping' });
    actor.send({ type: 'go', n: -1 });
    await waitFor('the refusal back to idle', () => actor.getSnapshot().matches('idle'));
    expect(actor.getSnapshot().context.pongs).toBe(1);
    expect(recorder.taken).toEqual(
      new Set([keys.go, keys.small, keys.waited, keys.ping, keys.pong, keys.goNegative, keys.refused]),
    );
    const untaken = [...allTransitions(machine)].filter((t) => !recorder.taken.has(t));
    expect(untaken.sort()).toEqual([keys.big, keys.workFailed, keys.worked].sort());
  });

  it('ignores the actors of other machines', async () => {
    const recorder = transitionRecorder('another');
    const actor = createActor(machine, { inspect: recorder.inspect }).start();
    actor.send({ type: 'go', n: 10 });
    await toPromise(actor);
    expect(recorder.taken.size).toBe(0);
  });
});
