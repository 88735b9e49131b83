import { createActor, fromCallback, fromEventObservable, fromPromise, waitFor } from 'xstate';
import { NEVER, type Observable } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { DockerObservation, FolderRecord } from '../../../machines/events.js';
import { hostMachine } from '../../../machines/host/machine.js';

function hostWith(options: {
  handshake: () => Promise<{ authToken: string }>;
  startEcsAgent?: () => Promise<void>;
  handshakeTimeoutMs?: number;
}) {
  const heartbeatsStarted: string[] = [];
  const warnings: string[] = [];
  const machine = hostMachine.provide({
    actors: {
      prepareHost: fromPromise(async () => ({ folders: [] as FolderRecord[] })),
      handshake: fromPromise(options.handshake),
      startEcsAgent: fromPromise(options.startEcsAgent ?? (async () => {})),
      dockerEvents: fromEventObservable(() => NEVER as Observable<DockerObservation>),
      apiServer: fromCallback(() => {}),
      heartbeats: fromCallback(({ input }) => {
        heartbeatsStarted.push(input.authToken);
      }),
    },
    actions: { logWarning: (_, params) => warnings.push(params.message) },
  });
  const actor = createActor(machine, {
    input: {
      ttyCount: 256,
      dpiTimeoutMs: 1000,
      requestWaitMs: 100,
      drainTimeoutMs: 100,
      handshakeTimeoutMs: options.handshakeTimeoutMs ?? 2000,
      handshakeRetryMs: 50,
    },
  });
  actor.start();
  return { actor, heartbeatsStarted, warnings };
}

describe('host handshake', () => {
  it('retries with growing delays until the webserver answers, then serves and beats with its token', async () => {
    let calls = 0;
    const times: number[] = [];
    const { actor, heartbeatsStarted, warnings } = hostWith({
      handshake: async () => {
        times.push(Date.now());
        if (++calls < 4) throw new Error('HTTP 503');
        return { authToken: 'token-1' };
      },
    });
    await waitFor(actor, (s) => s.matches('serving'), { timeout: 2000 });
    expect(calls).toBe(4);
    expect(warnings).toHaveLength(3);
    expect(warnings[0]).toMatch(/^handshake attempt 1 failed, retrying: HTTP 503/);
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    // 50, 100, 200 ms: each wait at least the one before, whatever the event loop adds.
    expect(gaps[1]!).toBeGreaterThan(gaps[0]!);
    expect(gaps[2]!).toBeGreaterThan(gaps[1]!);
    expect(heartbeatsStarted).toEqual(['token-1']);
    actor.stop();
  });

  it('gives up after the bounded time: a fatal stop, never serving', async () => {
    const { actor, heartbeatsStarted } = hostWith({
      handshake: async () => {
        throw new Error('HTTP 503');
      },
      handshakeTimeoutMs: 300,
    });
    const done = await waitFor(actor, (s) => s.status === 'done', { timeout: 2000 });
    expect(done.output!.stopReason.fatal).toBe(true);
    expect(done.output!.stopReason.message).toMatch(/^handshake failed \d+ times, giving up: HTTP 503/);
    expect(heartbeatsStarted).toEqual([]);
  });

  it('a failure to start the ECS agent is fatal', async () => {
    const { actor } = hostWith({
      handshake: async () => ({ authToken: 't' }),
      startEcsAgent: async () => {
        throw new Error('no such image');
      },
    });
    const done = await waitFor(actor, (s) => s.status === 'done', { timeout: 2000 });
    expect(done.output!.stopReason).toEqual({
      fatal: true,
      message: 'the ECS agent could not be started: no such image',
    });
  });
});
