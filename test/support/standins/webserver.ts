/** The webserver as the service sees it: handshake and heartbeats, every request recorded. */
import { startHttpStandIn, type HttpStandIn } from './httpStandIn.js';

export interface Heartbeat {
  AuthToken: string;
  Timestamp: string;
  HeartbeatNumber: number;
  InstanceID: string;
  InstanceType: string;
  TotalRAMinKB: string;
  FreeRAMinKB: string;
  AvailRAMinKB: string;
  IsDyingHeartbeat: boolean;
  at: number;
}

export interface WebserverStandIn extends HttpStandIn {
  authToken: string;
  handshakes(): { InstanceID: string; at: number }[];
  heartbeats(): Heartbeat[];
  /** While down, every request gets a 503. */
  setDown(down: boolean): void;
}

export async function startWebserverStandIn(options: { down?: boolean } = {}): Promise<WebserverStandIn> {
  const authToken = `token-${Math.random().toString(36).slice(2)}`;
  let down = options.down ?? false;
  const standIn = await startHttpStandIn((request) => {
    if (down) return { status: 503, body: 'down' };
    if (request.method === 'POST' && request.path === '/host_service/auth') {
      return { status: 200, body: { AuthToken: authToken } };
    }
    if (request.method === 'POST' && request.path === '/host_service/heartbeat') {
      return { status: 202, body: { status: 202 } };
    }
    return { status: 404, body: 'not found' };
  });
  const bodies = (path: string) =>
    standIn.requests
      .filter((r) => r.path === path && r.method === 'POST')
      .map((r) => ({ ...(JSON.parse(r.body) as object), at: r.at }));
  return {
    ...standIn,
    authToken,
    handshakes: () => bodies('/host_service/auth') as { InstanceID: string; at: number }[],
    heartbeats: () => bodies('/host_service/heartbeat') as Heartbeat[],
    setDown: (value) => {
      down = value;
    },
  };
}
