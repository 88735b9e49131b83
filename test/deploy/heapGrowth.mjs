// Run by unitFile.test.ts with --expose-gc: frees an 8 MB block (which glibc maps on its
// own), then takes twenty of 256 kB, and prints how much the main heap ([heap] in smaps)
// grew, in kB. A freed mapped block raises glibc's mmap threshold to its size unless the
// threshold is pinned: raised, the twenty come from the main heap; pinned, each is mapped.
import { Buffer } from 'node:buffer';
import fs from 'node:fs';
import { setTimeout } from 'node:timers';

function heapKb() {
  const smaps = fs.readFileSync('/proc/self/smaps', 'utf8');
  const at = smaps.indexOf('[heap]');
  return at < 0 ? 0 : Number(/Rss:\s+(\d+)/.exec(smaps.slice(at))[1]);
}

Buffer.allocUnsafeSlow(8 << 20).fill(1);
globalThis.gc();
globalThis.gc();
setTimeout(() => {
  const before = heapKb();
  const kept = [];
  for (let i = 0; i < 20; i++) kept.push(Buffer.allocUnsafeSlow(256 << 10).fill(1));
  console.log(heapKb() - before);
}, 100);
