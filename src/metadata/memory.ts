/** Memory figures for heartbeats, in kB as /proc/meminfo gives them, kept as the strings it prints. */
import fs from 'node:fs/promises';

export interface MemoryFigures {
  totalKb: string;
  freeKb: string;
  availableKb: string;
}

export function parseMeminfo(text: string): MemoryFigures {
  const field = (name: string) => {
    const match = new RegExp(`^${name}:\\s+(\\d+)\\s+kB$`, 'm').exec(text);
    if (!match) throw new Error(`/proc/meminfo has no ${name}`);
    return match[1]!;
  };
  return { totalKb: field('MemTotal'), freeKb: field('MemFree'), availableKb: field('MemAvailable') };
}

export async function readMemoryFigures(file = '/proc/meminfo'): Promise<MemoryFigures> {
  return parseMeminfo(await fs.readFile(file, 'utf8'));
}
