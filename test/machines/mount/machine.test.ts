import { describe, expect, it } from 'vitest';
import { createActor, createMachine, fromPromise, sendTo, type AnyEventObject } from 'xstate';
import { mountMachine } from '../../../machines/mount/machine.js';
import { API_SERVER_SYSTEM_ID } from '../../../machines/shared.js';
import { TEST_CREDENTIALS } from '../../support/credentials.js';

const credentials = TEST_CREDENTIALS;

/** Runs one mount under a parent that records what the mount sends it, and (registered as the API server) its answers. */
function runMount(impl: { start: () => Promise<void>; ended: () => Promise<string> }) {
  const received: AnyEventObject[] = [];
  const calls: string[] = [];
  const mount = mountMachine.provide({
    actors: {
      startMount: fromPromise(async () => {
        calls.push('start');
        await impl.start();
      }),
      watchMount: fromPromise(() => impl.ended()),
      stopMount: fromPromise(async () => {
        calls.push('stop');
      }),
    },
  });
  const parent = createMachine({
    invoke: {
      id: 'mount',
      src: mount,
      input: { containerId: 'c1', hostPort: 4000, provider: 'dropbox', requestId: 'r1', credentials },
    },
    on: {
      stop: { actions: sendTo('mount', { type: 'mount.stop' }) },
      // The parent's own bookkeeping (the child's completion) is not something the mount sent.
      '*': { actions: ({ event }) => void (event.type.startsWith('xstate.') || received.push(event)) },
    },
  });
  const actor = createActor(parent, { systemId: API_SERVER_SYSTEM_ID }).start();
  const mountState = () => actor.getSnapshot().children['mount']?.getSnapshot().value as string | undefined;
  return { actor, received, calls, mountState };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 10));

describe('the mount machine', () => {
  it('answers 200 once mounted, unmounts when asked and ends gone', async () => {
    const run = runMount({ start: async () => {}, ended: () => new Promise(() => {}) });
    await settle();
    expect(run.mountState()).toBe('mounted');
    expect(run.received).toContainEqual({
      type: 'api.reply',
      requestId: 'r1',
      status: 200,
      result: 'dropbox mounted for host port 4000',
    });
    run.actor.send({ type: 'stop' });
    await settle();
    expect(run.calls).toEqual(['start', 'stop']);
    expect(run.received.at(-1)).toEqual({ type: 'mount.gone', provider: 'dropbox' });
  });

  it('answers 406 when mounting fails, and still cleans up', async () => {
    const run = runMount({
      start: async () => {
        throw new Error('rclone did not mount within 15000 ms');
      },
      ended: () => new Promise(() => {}),
    });
    await settle();
    expect(run.received).toEqual([
      {
        type: 'api.reply',
        requestId: 'r1',
        status: 406,
        error: 'mounting failed: rclone did not mount within 15000 ms',
      },
      { type: 'mount.gone', provider: 'dropbox' },
    ]);
    expect(run.calls).toEqual(['start', 'stop']);
  });

  it('cleans up after a mount that ends on its own, answering nothing more', async () => {
    let end: (why: string) => void = () => {};
    const run = runMount({ start: async () => {}, ended: () => new Promise((resolve) => (end = resolve)) });
    await settle();
    end('rclone exited (1)');
    await settle();
    expect(run.received.filter((e) => e.type === 'api.reply')).toHaveLength(1);
    expect(run.received.at(-1)).toEqual({ type: 'mount.gone', provider: 'dropbox' });
    expect(run.calls).toEqual(['start', 'stop']);
  });

  it('answers 406 when stopped while still mounting', async () => {
    const run = runMount({ start: () => new Promise(() => {}), ended: () => new Promise(() => {}) });
    await settle();
    run.actor.send({ type: 'stop' });
    await settle();
    expect(run.received[0]).toEqual({
      type: 'api.reply',
      requestId: 'r1',
      status: 406,
      error: 'container c1 went away while dropbox was mounting',
    });
    expect(run.received.at(-1)).toEqual({ type: 'mount.gone', provider: 'dropbox' });
  });

  it('never shows the credentials in a snapshot', async () => {
    const run = runMount({ start: () => new Promise(() => {}), ended: () => new Promise(() => {}) });
    await settle();
    const snapshot = JSON.stringify(run.actor.getSnapshot().children['mount']?.getSnapshot());
    expect(snapshot).toContain('[sealed]');
    expect(snapshot).not.toContain('"s"');
  });
});
