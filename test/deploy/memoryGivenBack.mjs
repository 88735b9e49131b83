// Run by unitFile.test.ts with --expose-gc: frees an 8 MB block (which glibc maps on its
// own), takes twenty blocks of 256 kB, frees them, and prints how many kB of resident
// memory the process gave back. A freed mapped block raises glibc's mmap threshold (and
// its trim threshold with it) unless the threshold is pinned: raised, the twenty come from
// glibc's main arena and stay there once freed; pinned, each is mapped and unmapped alone.
// Resident memory, not the size of [heap]: when something is mapped just above the heap,
// glibc grows it with mmap instead of brk, and [heap] stays as it was either way.
import { Buffer } from 'node:buffer';
import fs from 'node:fs';
import { setTimeout } from 'node:timers';

function residentKb() {
  return Number(fs.readFileSync('/proc/self/statm', 'utf8').split(' ')[1]) * 4;
}

Buffer.allocUnsafeSlow(8 << 20).fill(1);
globalThis.gc();
globalThis.gc();
setTimeout(() => {
  const taken = [];
  for (let i = 0; i < 20; i++) taken.push(Buffer.allocUnsafeSlow(256 << 10).fill(1));
  globalThis.gc();
  const withBlocks = residentKb();
  taken.length = 0;
  globalThis.gc();
  globalThis.gc();
  console.log(withBlocks - residentKb());
}, 100);
