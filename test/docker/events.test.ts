/**
 * The timing of `engineEvents$` in virtual time (RxJS TestScheduler marbles)
 * over a fake engine: which connection lists when, what waits for the list,
 * where replay resumes, how backoff grows. The same code against the real
 * engine is in events.int.test.ts and the service's engine-restart tests.
 */
import { PassThrough } from 'node:stream';
import { NEVER, type Observable } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import type { DockerObservation } from '../../machines/events.js';
import {
  engineEvents$,
  eventLines$,
  parseEvent,
  type DockerEventsOptions,
  type EngineSource,
  type EngineStreamItem,
  type RunningContainer,
} from '../../src/docker/events.js';

const id = (n: number) => n.toString(16).padStart(64, '0');

function line(action: 'start' | 'die' | 'destroy', n: number, timeNano: number): EngineStreamItem {
  const raw = {
    Type: 'container',
    Action: action,
    Actor: { ID: id(n), Attributes: { name: `c${n}` } },
    timeNano: String(timeNano),
  };
  return { type: 'line', line: JSON.stringify(raw) };
}

const opened: EngineStreamItem = { type: 'opened' };
const started = (n: number, timeNano: number): DockerObservation => ({
  type: 'docker.start',
  containerId: id(n),
  name: `c${n}`,
  timeNano: String(timeNano),
});
const died = (n: number, timeNano: number): DockerObservation => ({
  type: 'docker.die',
  containerId: id(n),
  timeNano: String(timeNano),
});
const listed = (listedAtMs: number, ...running: number[]): DockerObservation => ({
  type: 'docker.listed',
  listedAtMs,
  running: running.map((n) => ({ containerId: id(n), name: `c${n}` })),
});
const connected: DockerObservation = { type: 'docker.connected' };
const disconnected = (reason: string): DockerObservation => ({ type: 'docker.disconnected', reason });
const running = (...ns: number[]): RunningContainer[] =>
  ns.map((n) => ({ containerId: id(n), name: `c${n}` }));

/** A fake engine: each stream opened and each list asked for takes the next prepared answer. */
function fakeEngine(streams: Observable<EngineStreamItem>[], lists: Observable<RunningContainer[]>[]) {
  const sinces: bigint[] = [];
  const source: EngineSource = {
    events: (sinceNano) => {
      sinces.push(sinceNano);
      return streams.shift() ?? NEVER;
    },
    listRunning: () => lists.shift() ?? NEVER,
  };
  return { source, sinces };
}

function scheduler() {
  return new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
}

function options(
  testScheduler: TestScheduler,
  extra: Partial<DockerEventsOptions> = {},
): DockerEventsOptions {
  return {
    relistIntervalMs: 1000,
    engineTimeoutMs: 500,
    backoffBaseMs: 10,
    backoffMaxMs: 40,
    sinceNano: 5n,
    now: () => testScheduler.now(),
    ...extra,
  };
}

describe('engineEvents$ (virtual time)', () => {
  it('on connect: lists with the stream open, then hands over what the stream delivered meanwhile, then live events', () => {
    const testScheduler = scheduler();
    testScheduler.run(({ cold, expectObservable }) => {
      // The stream opens at once and delivers a start and a die before the list answers at 30 ms.
      const stream = cold('o 9ms a 9ms b 19ms c', {
        o: opened,
        a: line('start', 1, 100),
        b: line('die', 2, 200),
        c: line('start', 3, 300),
      });
      const list = cold('30ms (l|)', { l: running(1, 2) });
      const engine = fakeEngine([stream], [list]);
      const events$ = engineEvents$(engine.source, options(testScheduler));
      expectObservable(events$, '^ 60ms !').toBe('30ms (CLab) 4ms c', {
        C: connected,
        L: listed(0, 1, 2),
        a: started(1, 100),
        b: died(2, 200),
        c: started(3, 300),
      });
      // Asked for once the stream was open, at 0 ms, not when it answered.
      testScheduler.flush();
      expect(engine.sinces).toEqual([5n]);
    });
  });

  it('reconnects with growing backoff after a lost stream, replaying from the last event handed over', () => {
    const testScheduler = scheduler();
    testScheduler.run(({ cold, expectObservable }) => {
      const first = cold('o 9ms a 9ms #', { o: opened, a: line('start', 1, 100) }, new Error('aborted'));
      // The second attempt fails to open; the third opens, lists and delivers a replayed start.
      const second = cold<EngineStreamItem>('#', {}, new Error('connect ENOENT'));
      const third = cold('o 9ms b', { o: opened, b: line('start', 2, 250) });
      const lists = [cold('(l|)', { l: running() }), cold('(l|)', { l: running(1) })];
      const engine = fakeEngine([first, second, third], lists);
      const events$ = engineEvents$(engine.source, options(testScheduler));
      // Lost at 20 ms; retried 10 ms later (30, fails at once), then 20 ms later (50).
      expectObservable(events$, '^ 80ms !').toBe('(CL) 6ms a 9ms D 9ms E 19ms (CM) 6ms b', {
        C: connected,
        L: listed(0),
        a: started(1, 100),
        D: disconnected('aborted'),
        E: disconnected('connect ENOENT'),
        M: listed(50, 1),
        b: started(2, 250),
      });
      testScheduler.flush();
      expect(engine.sinces).toEqual([5n, 100n, 100n]);
    });
  });

  it('keeps what arrived before the list only for its own connection: a stream lost before the list answers replays it', () => {
    const testScheduler = scheduler();
    testScheduler.run(({ cold, expectObservable }) => {
      const first = cold('o 9ms a 9ms #', { o: opened, a: line('start', 1, 100) }, new Error('aborted'));
      const second = cold('o 9ms a', { o: opened, a: line('start', 1, 100) });
      const lists = [cold('30ms (l|)', { l: running() }), cold('(l|)', { l: running(1) })];
      const engine = fakeEngine([first, second], lists);
      const events$ = engineEvents$(engine.source, options(testScheduler));
      // The list of the first connection never answered in time: nothing of it is handed over, so
      // replay starts where it started, and the start comes once, after the second connection's list.
      expectObservable(events$, '^ 60ms !').toBe('20ms D 9ms (CL) 6ms a', {
        D: disconnected('aborted'),
        C: connected,
        L: listed(30, 1),
        a: started(1, 100),
      });
      testScheduler.flush();
      expect(engine.sinces).toEqual([5n, 5n]);
    });
  });

  it('tears the stream down when a list fails, and backs off further until a list answers', () => {
    const testScheduler = scheduler();
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const streams = [
        cold('o----', { o: opened }),
        cold('o----', { o: opened }),
        cold('o----', { o: opened }),
      ];
      const lists = [
        cold<RunningContainer[]>('--#', {}, new Error('socket hang up')),
        cold<RunningContainer[]>('--#', {}, new Error('socket hang up')),
        cold('--(l|)', { l: running() }),
      ];
      const engine = fakeEngine([...streams], lists);
      const events$ = engineEvents$(engine.source, options(testScheduler));
      // Fails at 2 ms, retried at 12 and fails at 14, retried 20 ms later at 34, listed at 36.
      expectObservable(events$, '^ 50ms !').toBe('2ms D 11ms D 21ms (CL)', {
        D: disconnected('re-list failed: socket hang up'),
        C: connected,
        L: listed(34),
      });
      testScheduler.flush();
      // Each stream was closed when its list failed.
      expectSubscriptions(streams[0]!.subscriptions).toBe('^-!');
      expectSubscriptions(streams[1]!.subscriptions).toBe('12ms ^-!');
    });
  });

  it('gives opening the stream and each list a deadline, but lets an open stream stay quiet', () => {
    const testScheduler = scheduler();
    testScheduler.run(({ cold, expectObservable }) => {
      // Never answers; then opens and answers its list; later a list that never answers.
      const streams = [cold<EngineStreamItem>('-'), cold('o', { o: opened })];
      const lists = [
        cold('(l|)', { l: running() }),
        cold('(l|)', { l: running() }),
        cold<RunningContainer[]>('-'),
      ];
      const engine = fakeEngine(streams, lists);
      const events$ = engineEvents$(engine.source, options(testScheduler, { relistIntervalMs: 300 }));
      // Opening times out at 500; reconnected at 510; re-lists at 810, and 1110 which never answers
      // and is given up at 1610; the stream in between stays quiet without being torn down.
      expectObservable(events$, '^ 1700ms !').toBe('500ms D 9ms (CL) 296ms M 799ms N', {
        D: disconnected('opening the event stream took longer than 500 ms'),
        C: connected,
        L: listed(510),
        M: listed(810),
        N: disconnected('re-list failed: listing the running containers took longer than 500 ms'),
      });
    });
  });

  it('does not stack re-lists behind a slow one', () => {
    const testScheduler = scheduler();
    testScheduler.run(({ cold, expectObservable }) => {
      const stream = cold('o', { o: opened });
      // The first periodic list takes 25 ms, across two more ticks of a 10 ms interval.
      const lists = [
        cold('(l|)', { l: running() }),
        cold('25ms (l|)', { l: running(1) }),
        cold('(l|)', { l: running(2) }),
      ];
      const engine = fakeEngine([stream], lists);
      const events$ = engineEvents$(engine.source, options(testScheduler, { relistIntervalMs: 10 }));
      expectObservable(events$, '^ 45ms !').toBe('(CL) 31ms M 4ms N', {
        C: connected,
        L: listed(0),
        M: listed(10, 1),
        N: listed(40, 2),
      });
    });
  });

  it('ignores events it does not follow, and reconnects on an unreadable line or a stream the engine ends', () => {
    const testScheduler = scheduler();
    testScheduler.run(({ cold, expectObservable }) => {
      const streams = [
        cold('o-d-x', {
          o: opened,
          d: line('destroy', 1, 100),
          x: { type: 'line', line: '{"Type":' } as EngineStreamItem,
        }),
        cold('o 9ms |', { o: opened }),
      ];
      const lists = [cold('(l|)', { l: running() }), cold('(l|)', { l: running() })];
      const engine = fakeEngine(streams, lists);
      const events$ = engineEvents$(engine.source, options(testScheduler));
      expectObservable(events$, '^ 30ms !').toBe('(CL) D 9ms (CM) 6ms E', {
        C: connected,
        L: listed(0),
        D: disconnected('unreadable event from the engine: Unexpected end of JSON input'),
        M: listed(14),
        E: disconnected('the engine closed the event stream'),
      });
      testScheduler.flush();
      expect(engine.sinces).toEqual([5n, 5n]);
    });
  });
});

describe('parseEvent', () => {
  // As the engine writes it: `timeNano` a bare number above 2^53, after the actor's attributes.
  const engineLine = (timeNano: string, label = '') =>
    `{"status":"start","id":"${id(1)}","from":"hs-test:latest","Type":"container","Action":"start",` +
    `"Actor":{"ID":"${id(1)}","Attributes":{${label}"image":"hs-test:latest","name":"c1"}},` +
    `"scope":"local","time":1796554216,"timeNano":${timeNano}}`;

  it('keeps every nanosecond of the engine time, which JSON.parse would round to 256 ns', () => {
    expect(Number.isSafeInteger(Number('1796554216211962612'))).toBe(false);
    expect(parseEvent(engineLine('1796554216211962612'))).toEqual({
      type: 'docker.start',
      containerId: id(1),
      name: 'c1',
      timeNano: '1796554216211962612',
    });
  });

  it("reads the event's own time, not a label of the same name", () => {
    const line = engineLine('1796554216211962612', '"timeNano":"42","x":"\\"timeNano\\":7,",');
    expect(JSON.parse(line).Actor.Attributes.timeNano).toBe('42');
    expect(parseEvent(line)).toMatchObject({ timeNano: '1796554216211962612' });
  });

  it('takes the time in seconds when there is no timeNano, and a timeNano written as a string', () => {
    const secondsOnly = JSON.stringify({ Type: 'container', Action: 'die', id: id(2), time: 1796554216 });
    expect(parseEvent(secondsOnly)).toEqual({
      type: 'docker.die',
      containerId: id(2),
      timeNano: '1796554216000000000',
    });
    const quoted = JSON.stringify({ Type: 'container', Action: 'die', id: id(2), timeNano: '5' });
    expect(parseEvent(quoted)).toMatchObject({ timeNano: '5' });
  });
});

describe('eventLines$', () => {
  it('splits chunks into lines, however the engine cut them', async () => {
    const stream = new PassThrough();
    const lines: string[] = [];
    const subscription = eventLines$(stream).subscribe({ next: (l) => lines.push(l), error: () => {} });
    stream.write('{"a":1}\n{"b"');
    stream.write(':2}\n\n{"c":3}\n');
    await new Promise((resolve) => setImmediate(resolve));
    expect(lines).toEqual(['{"a":1}', '{"b":2}', '{"c":3}']);
    subscription.unsubscribe();
    expect(stream.destroyed).toBe(true);
  });

  it('turns the stream failing mid-way (an engine that went away) into an error of the observable, not an uncaught one', async () => {
    const stream = new PassThrough();
    const failure = new Promise<unknown>((resolve) => eventLines$(stream).subscribe({ error: resolve }));
    stream.write('{"a":1}\n');
    stream.destroy(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
    expect(await failure).toMatchObject({ message: 'aborted', code: 'ECONNRESET' });
  });

  it('reports a stream the engine ended as lost', async () => {
    const stream = new PassThrough();
    const failure = new Promise<unknown>((resolve) => eventLines$(stream).subscribe({ error: resolve }));
    stream.end('{"a":1}\n');
    expect(await failure).toMatchObject({ message: 'the engine closed the event stream' });
  });
});
