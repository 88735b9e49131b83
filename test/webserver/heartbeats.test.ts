import { describe, expect, it } from 'vitest';
import { parseMeminfo } from '../../src/metadata/memory.js';
import { jitteredInterval } from '../../src/webserver/heartbeats.js';

describe('heartbeat spacing', () => {
  it('stays within ±1/12 of the mean: 55–65 s for a minute', () => {
    expect(jitteredInterval(60_000, () => 0)).toBe(55_000);
    expect(jitteredInterval(60_000, () => 0.999999)).toBe(65_000);
    expect(jitteredInterval(60_000, () => 0.5)).toBe(60_000);
    for (let i = 0; i < 1000; i++) {
      const d = jitteredInterval(60_000);
      expect(d).toBeGreaterThanOrEqual(55_000);
      expect(d).toBeLessThanOrEqual(65_000);
    }
  });
});

describe('/proc/meminfo', () => {
  it('gives total, free and available as the strings the kernel printed', () => {
    const text =
      'MemTotal:       24683520 kB\nMemFree:         1234567 kB\nMemAvailable:   20000000 kB\nBuffers:  1 kB\n';
    expect(parseMeminfo(text)).toEqual({ totalKb: '24683520', freeKb: '1234567', availableKb: '20000000' });
  });

  it('fails on a file without the figures', () => {
    expect(() => parseMeminfo('MemTotal: 1 kB\n')).toThrow(/MemFree/);
  });
});
