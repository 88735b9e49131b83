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
