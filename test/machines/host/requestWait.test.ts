/**
 * How long a DPI request for a host port no container holds yet waits: short
 * while the engine stream is connected and nothing is being set up, longer
 * while a container is on its way, the whole wait without the stream.
 * Simulated time: the delays are the machine's, not the machine's load.
 */
import { Subject } from 'rxjs';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createActor, fromCallback, type EventObject } from 'xstate';
import type { ApiReply, DockerObservation } from '../../../machines/events.js';
import type { HostEvent } from '../../../machines/host/machine.js';
import { fakeContainerMachine, fakeHostMachine } from '../../support/fakeMachines.js';

const ID = 'a'.repeat(64);

function runHost() {
  const engine = new Subject<DockerObservation>();
  const replies: ApiReply[] = [];
  let sendToHost: (event: HostEvent) => void = () => {};
  let finishInspection: () => void = () => {};
  // Held until the test lets it go: a container still being set up.
  const container = fakeContainerMachine(async (input) => {
    await new Promise<void>((resolve) => (finishInspection = resolve));
    return {
      containerId: input.containerId,
      name: 'desktop',
      running: true,
      startedAtMs: 1000,
      hostPortBindings: [40001],
    };
  });
  const host = fakeHostMachine(container, engine, {
    actors: {
      apiServer: fromCallback(({ sendBack, receive }) => {
        sendToHost = sendBack;
        receive((event) => {
          const { type: _type, ...reply } = event as EventObject & ApiReply;
          replies.push(reply as ApiReply);
        });
      }),
    },
  });
  const actor = createActor(host, {
    input: {
      ttyCount: 256,
      dpiTimeoutMs: 600_000,
      requestWaitMs: 30_000,
      connectedRequestWaitMs: 2000,
      drainTimeoutMs: 1000,
    },
  }).start();
  return {
    actor,
    engine,
    replies,
    request: (requestId: string, hostPort: number) =>
      sendToHost({ type: 'api.request', requestId, request: { kind: 'setDpi', hostPort, dpi: 192 } }),
    finishInspection: () => finishInspection(),
  };
}

describe('the wait of a request for an unknown host port', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  const serving = async (h: ReturnType<typeof runHost>) => {
    await vi.advanceTimersByTimeAsync(0);
    expect(h.actor.getSnapshot().matches('serving')).toBe(true);
  };

  it('is the short one while the engine stream is connected and nothing is on its way', async () => {
    const h = runHost();
    await serving(h);
    h.engine.next({ type: 'docker.connected' });
    h.request('r1', 40999);
    await vi.advanceTimersByTimeAsync(1999);
    expect(h.replies).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(h.replies).toEqual([
      { requestId: 'r1', status: 406, error: 'no container with host port 40999 after waiting 2000 ms' },
    ]);
    expect(h.actor.getSnapshot().context.pendingRequests.size).toBe(0);
  });

  it('is the whole wait while the stream is not connected', async () => {
    const h = runHost();
    await serving(h);
    h.request('connecting', 40998);
    h.engine.next({ type: 'docker.disconnected', reason: 'socket closed' });
    h.request('disconnected', 40997);
    await vi.advanceTimersByTimeAsync(29_999);
    expect(h.replies).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(h.replies.map((r) => [r.requestId, r.status])).toEqual([
      ['connecting', 406],
      ['disconnected', 406],
    ]);
    expect(h.replies[0]).toMatchObject({ error: 'no container with host port 40998 after waiting 30000 ms' });
  });

  it('goes on while a container is being set up, and the request gets it once it accepts requests', async () => {
    const h = runHost();
    await serving(h);
    h.engine.next({ type: 'docker.connected' });
    h.request('early', 40001);
    h.engine.next({ type: 'docker.start', containerId: ID, name: 'desktop', timeNano: '1000000000' });
    await vi.advanceTimersByTimeAsync(9000);
    expect(h.replies).toEqual([]);
    h.finishInspection();
    await vi.advanceTimersByTimeAsync(10);
    expect(h.replies).toEqual([
      { requestId: 'early', status: 200, result: `DPI of container ${ID} set to 192` },
    ]);
  });

  it('still ends after the whole wait when the container being set up never gets there', async () => {
    const h = runHost();
    await serving(h);
    h.engine.next({ type: 'docker.connected' });
    h.request('stuck', 40555);
    h.engine.next({ type: 'docker.start', containerId: ID, name: 'desktop', timeNano: '1000000000' });
    await vi.advanceTimersByTimeAsync(29_999);
    expect(h.replies).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(h.replies).toEqual([
      { requestId: 'stuck', status: 406, error: 'no container with host port 40555 after waiting 30000 ms' },
    ]);
  });
});
