/**
 * The live view of every actor for the Stately inspector: a WebSocket relay
 * on 127.0.0.1 (reached from a laptop through an SSH tunnel) and the
 * `@statelyai/inspect` WebSocket client that feeds it from inside the process.
 *
 * The relay is ours rather than the package's `createInspectorServer`,
 * which listens on every interface and cannot be told otherwise. It keeps
 * the latest registration of each live actor and a bounded tail of recent
 * events, so an engineer who connects late still sees the whole tree.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createWebSocketInspector } from '@statelyai/inspect';
import { WebSocket, WebSocketServer } from 'ws';
import type { InspectionEvent, Observer } from 'xstate';
import { redactSecrets } from './secrets.js';

export const INSPECTOR_HOST = '127.0.0.1';
const RECENT_EVENTS = 500;
const MAX_ACTORS = 5000;
interface RelayedMessage {
  type?: string;
  sessionId?: string;
  snapshot?: { status?: string };
}

/** Forwards what the service sends to every other connected client, with a replay for newcomers. */
class InspectionRelay {
  private readonly actors = new Map<string, string>();
  private readonly recent: string[] = [];

  constructor(private readonly wss: WebSocketServer) {
    wss.on('connection', (socket) => {
      for (const message of [...this.actors.values(), ...this.recent]) socket.send(message);
      socket.on('message', (data) => this.relay(socket, data.toString()));
    });
  }

  private relay(from: WebSocket, message: string): void {
    this.remember(message);
    for (const client of this.wss.clients) {
      if (client !== from && client.readyState === WebSocket.OPEN) client.send(message);
    }
  }

  private remember(message: string): void {
    let parsed: RelayedMessage;
    try {
      parsed = JSON.parse(message) as RelayedMessage;
    } catch {
      return;
    }
    if (parsed.type === '@xstate.actor' && parsed.sessionId !== undefined) {
      this.actors.set(parsed.sessionId, message);
      if (this.actors.size > MAX_ACTORS) this.actors.delete(this.actors.keys().next().value!);
      return;
    }
    // A finished actor is history: late viewers need not see it.
    if (parsed.snapshot?.status === 'done' && parsed.sessionId !== undefined)
      this.actors.delete(parsed.sessionId);
    this.recent.push(message);
    if (this.recent.length > RECENT_EVENTS) this.recent.shift();
  }
}

/** The page an engineer opens through the tunnel: it hands the relayed events to the hosted inspector UI. */
function viewerPage(inspectorUrl: string): string {
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>Host service inspector</title>
<style>html,body,iframe{margin:0;width:100%;height:100%;border:0}</style></head>
<body><iframe id="ui" src="${inspectorUrl}"></iframe>
<script>
const ui = document.getElementById('ui');
const held = [];
let ready = false;
addEventListener('message', (e) => {
  if (!e.data || e.data.type !== '@statelyai.connected') return;
  ready = true;
  while (held.length) ui.contentWindow.postMessage(held.shift(), '*');
});
const socket = new WebSocket('ws://' + location.host);
socket.onmessage = (e) => {
  const event = JSON.parse(e.data);
  if (ready) ui.contentWindow.postMessage(event, '*');
  else held.push(event);
};
</script></body></html>`;
}

export interface Inspector {
  /** Pass to `createActor(..., { inspect })` of the root actor. */
  inspect: Observer<InspectionEvent>;
  port: number;
  stop(): Promise<void>;
}

export interface InspectorOptions {
  /** 0 picks a free port. */
  port: number;
  /** The hosted inspector UI the viewer page embeds (loaded by the engineer's browser, not by the host). */
  uiUrl?: string;
}

export async function startInspector(options: InspectorOptions): Promise<Inspector> {
  const page = viewerPage(options.uiUrl ?? 'https://stately.ai/inspect');
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(page);
  });
  const wss = new WebSocketServer({ server, maxPayload: 16 * 1024 * 1024 });
  new InspectionRelay(wss);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, INSPECTOR_HOST, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;

  const client = createWebSocketInspector({
    url: `ws://${INSPECTOR_HOST}:${port}`,
    // Every event as a whole, so that inputs, outputs and contexts alike lose their credentials.
    serialize: (event) => redactSecrets(event) as typeof event,
  });

  return {
    inspect: client.inspect,
    port,
    stop: async () => {
      client.stop();
      for (const socket of wss.clients) socket.terminate();
      wss.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
