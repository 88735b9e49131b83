/**
 * Which TCP ports a process listens on, read from /proc: the sockets among
 * its open file descriptors that /proc/net/tcp{,6} lists in LISTEN state.
 */
import fs from 'node:fs';
import net from 'node:net';

export interface ListeningSocket {
  address: string;
  port: number;
}

const LISTEN = '0A';

function decodeAddress(hex: string): string {
  if (hex.length === 8) {
    return [3, 2, 1, 0].map((i) => parseInt(hex.slice(i * 2, i * 2 + 2), 16)).join('.');
  }
  return hex === '00000000000000000000000000000000' ? '::' : hex.toLowerCase();
}

export function listeningSockets(pid: number): ListeningSocket[] {
  const inodes = new Set<string>();
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match) inodes.add(match[1]!);
    } catch {
      // The descriptor closed while we looked.
    }
  }
  const found: ListeningSocket[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of fs.readFileSync(table, 'utf8').trim().split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      const [address, portHex] = fields[1]!.split(':');
      if (fields[3] === LISTEN && inodes.has(fields[9]!)) {
        found.push({ address: decodeAddress(address!), port: parseInt(portHex!, 16) });
      }
    }
  }
  return found;
}

/** A port that nothing listens on right now (the kernel's pick on 127.0.0.1). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Where the services of one test or benchmark process take their ports (see `firstServicePort`). */
const PORTS_PER_PROCESS = 10;
const SERVICE_PORT_BASE = 20_000;

/**
 * The first of the ports a process's services listen on, below the kernel's
 * range for outgoing connections (`ip_local_port_range`), which is also where
 * Docker picks the host ports it publishes. A port inside that range was once
 * taken by one of the test's own connections between being picked and the
 * service's bind: EADDRINUSE in the kill -9 trials of stopRestart.int.
 */
export function firstServicePort(pid = process.pid): number {
  const first = SERVICE_PORT_BASE + (pid % 1000) * PORTS_PER_PROCESS;
  const ephemeral = fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/);
  const ephemeralLow = Number(ephemeral[0]);
  // A process that starts more services than its share runs into the next one's, still below the range.
  if (!(ephemeralLow > SERVICE_PORT_BASE + 1000 * PORTS_PER_PROCESS + 100)) {
    throw new Error(
      `the ports for test services (${SERVICE_PORT_BASE}-${SERVICE_PORT_BASE + 1000 * PORTS_PER_PROCESS + 100}) overlap this machine's ip_local_port_range (${ephemeral.join('-')})`,
    );
  }
  return first;
}
