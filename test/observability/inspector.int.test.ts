/**
 * The inspector against the real service and a real engine: a WebSocket
 * client on the relay sees every transition of a container's life.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { removeAllContainers, removeContainer, startContainer } from '../support/engine.js';
import { freePort, listeningSockets } from '../support/listening.js';
import { startService, type RunningService } from '../support/service.js';
import { waitFor } from '../support/wait.js';

interface InspectionMessage {
  type: string;
  sessionId: string;
  name?: string;
  definition?: string;
  event?: { type: string };
  snapshot?: { value?: unknown; status?: string; context?: Record<string, unknown> };
}

function listen(port: number): Promise<{ messages: InspectionMessage[]; close: () => void }> {
  const socket = new WebSocket(`ws://127.0.0.1:${port}`);
  const messages: InspectionMessage[] = [];
  socket.on('message', (data) => messages.push(JSON.parse(data.toString()) as InspectionMessage));
  return new Promise((resolve, reject) => {
    socket.once('open', () => resolve({ messages, close: () => socket.close() }));
    socket.once('error', reject);
  });
}

describe('the inspector, when asked for', () => {
  let service: RunningService;
  let inspectorPort: number;

  beforeAll(async () => {
    await removeAllContainers();
    inspectorPort = await freePort();
    service = await startService({ env: { HOST_SERVICE_INSPECTOR_PORT: String(inspectorPort) } });
  });
  afterEach(removeAllContainers);
  afterAll(async () => {
    expect(await service.stop()).toBe(0);
  });

  it('listens on 127.0.0.1 only', () => {
    const sockets = listeningSockets(service.process.pid!).filter((s) => s.port === inspectorPort);
    expect(sockets).toEqual([{ address: '127.0.0.1', port: inspectorPort }]);
  });

  it("streams every transition of a container's life to a client", async () => {
    const client = await listen(inspectorPort);
    try {
      // A late client is first told about the actors that already run.
      const registered = await waitFor('the host and service registrations', () => {
        const names = client.messages.filter((m) => m.type === '@xstate.actor').map((m) => m.name);
        return names.includes('host') && names.includes('service') ? names : undefined;
      });
      expect(registered).toEqual(expect.arrayContaining(['service', 'host', 'dockerEvents']));

      const container = await startContainer();
      const session = await waitFor('the container actor', () =>
        client.messages.find((m) => m.type === '@xstate.actor' && m.name === container.id),
      );
      expect(session.definition).toContain('"id":"container"');
      const valuesOf = () =>
        client.messages
          .filter((m) => m.type === '@xstate.snapshot' && m.sessionId === session.sessionId)
          .map((m) => JSON.stringify(m.snapshot?.value));
      const distinct = (values: string[]) => values.filter((v, i) => i === 0 || v !== values[i - 1]);
      const expectedBeforeRemoval = [
        { requested: 'inspecting' },
        // The host decides the claim with the verdict: no snapshot of `claiming` in between.
        { requested: 'writingFiles' },
        { ttyAssigned: 'waiting' },
      ].map((v) => JSON.stringify(v));
      await waitFor('the container waiting for its DPI', () =>
        distinct(valuesOf()).length >= 3 ? true : undefined,
      );
      expect(distinct(valuesOf())).toEqual(expectedBeforeRemoval);

      await removeContainer(container.id);
      await waitFor(
        'the container removed',
        () => (valuesOf().includes('"removed"') ? true : undefined),
        20_000,
      );
      // With no mounts, `draining.unmounting` is left in the same step: the first snapshot shows the clean-up.
      expect(distinct(valuesOf())).toEqual([
        ...expectedBeforeRemoval,
        JSON.stringify({ draining: 'cleaningUp' }),
        '"removed"',
      ]);

      // The events that caused those transitions were streamed too.
      const received = client.messages
        .filter((m) => m.type === '@xstate.event' && m.sessionId === session.sessionId)
        .map((m) => m.event?.type);
      expect(received).toEqual(expect.arrayContaining(['inspection.done', 'container.died']));
      const last = client.messages.filter((m) => m.sessionId === session.sessionId).at(-1);
      expect(last?.snapshot?.status).toBe('done');

      // Credentials never leave the process.
      const host = client.messages.find(
        (m) => m.type === '@xstate.snapshot' && m.snapshot?.context?.['authToken'],
      );
      expect(host?.snapshot?.context?.['authToken']).toBe('[redacted]');
    } finally {
      client.close();
    }
  });
});

describe('the inspector, by default', () => {
  it('is off: the service listens on no inspector port', async () => {
    await removeAllContainers();
    const service = await startService();
    try {
      // Without the setting there is no relay: nothing is open but the API port and, in development
      // without a WEBSERVER_URL, the embedded stand-in of the webserver.
      const handshake = await service.waitForLog(
        'the handshake',
        (l) => l.msg === 'handshake with the webserver done',
      );
      const webserverPort = Number(new URL(String(handshake['webserver'])).port);
      const ports = listeningSockets(service.process.pid!).map((s) => s.port);
      expect(ports.filter((p) => p !== service.port && p !== webserverPort)).toEqual([]);
      expect(service.logs.some((l) => l.msg.includes('inspector'))).toBe(false);
    } finally {
      expect(await service.stop()).toBe(0);
    }
  });
});
