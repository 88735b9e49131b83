import { describe, expect, it } from 'vitest';
import { createActor, createMachine, enqueueActions, fromCallback, type AnyEventObject } from 'xstate';
import { API_SERVER_SYSTEM_ID, enqueueApiReply, withEntry, withoutKey } from '../../machines/shared.js';

/** An actor that answers request r1 on `answer`, beside an API server stand-in when `withServer`. */
function answering(withServer: boolean) {
  const received: AnyEventObject[] = [];
  const toSelf: AnyEventObject[] = [];
  const machine = createMachine({
    invoke: withServer
      ? {
          systemId: API_SERVER_SYSTEM_ID,
          src: fromCallback(({ receive }) => receive((event) => void received.push(event))),
        }
      : [],
    on: {
      answer: {
        actions: enqueueActions(({ enqueue, system }) =>
          enqueueApiReply(enqueue, system, { requestId: 'r1', status: 200, result: 'done' }),
        ),
      },
      'api.reply': { actions: ({ event }) => void toSelf.push(event) },
    },
  });
  const actor = createActor(machine).start();
  actor.send({ type: 'answer' });
  return { received, toSelf };
}

describe('enqueueApiReply', () => {
  it('sends the answer to the actor registered as the API server', () => {
    const { received, toSelf } = answering(true);
    expect(received).toEqual([{ type: 'api.reply', requestId: 'r1', status: 200, result: 'done' }]);
    expect(toSelf).toEqual([]);
  });

  it('drops the answer when no API server runs, rather than sending it to the sender', () => {
    const { received, toSelf } = answering(false);
    expect(received).toEqual([]);
    expect(toSelf).toEqual([]);
  });
});

describe('withEntry and withoutKey', () => {
  const original = new Map([
    ['a', 1],
    ['b', 2],
  ]);

  it('give a new map and leave the one they were given as it was', () => {
    const added = withEntry(original, 'c', 3);
    const changed = withEntry(original, 'a', 9);
    const removed = withoutKey(original, 'a');
    expect([...added]).toEqual([
      ['a', 1],
      ['b', 2],
      ['c', 3],
    ]);
    expect([...changed]).toEqual([
      ['a', 9],
      ['b', 2],
    ]);
    expect([...removed]).toEqual([['b', 2]]);
    expect([...original]).toEqual([
      ['a', 1],
      ['b', 2],
    ]);
    expect(new Set([added, changed, removed, original]).size).toBe(4);
  });

  it('give back the same map when there is no key to remove', () => {
    expect(withoutKey(original, 'z')).toBe(original);
    expect(withoutKey(new Map(), 'z').size).toBe(0);
  });
});
