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

/**
 * Test and benchmark services listen from here up, a share of
 * PORTS_PER_PROCESS ports for each process (a process that starts more runs
 * into the next share): every port below LAST_SERVICE_PORT.
 */
const FIRST_SERVICE_PORT = 20_000;
const PORTS_PER_PROCESS = 32;
const PROCESS_SHARES = 300;
const LAST_SERVICE_PORT = FIRST_SERVICE_PORT + PROCESS_SHARES * PORTS_PER_PROCESS + PORTS_PER_PROCESS;

/**
 * The first port of this process's share, below the kernel's range for
 * outgoing connections (`ip_local_port_range`), which is also where Docker
 * picks the host ports it publishes. A port inside that range was once taken
 * by one of the test's own connections between being picked and the
 * service's bind: EADDRINUSE in the kill -9 trials of stopRestart.int.
 */
export function firstServicePort(): number {
  const range = fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/);
  if (!(Number(range[0]) > LAST_SERVICE_PORT)) {
    throw new Error(
      `the ports of test services (${FIRST_SERVICE_PORT}-${LAST_SERVICE_PORT}) overlap this machine's ip_local_port_range (${range.join('-')})`,
    );
  }
  return FIRST_SERVICE_PORT + (process.pid % PROCESS_SHARES) * PORTS_PER_PROCESS;
}
