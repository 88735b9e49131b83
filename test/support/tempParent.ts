/**
 * Test runner set-up: one folder for the run's temporary service roots
 * (./tempRoots.ts), removed once every test file has ended. A test worker
 * ends without an exit event when the runner stops it, so its own clean-up
 * cannot be relied on alone.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { removeUnlessMounted, TEMP_PARENT_VARIABLE } from './tempRoots.js';

export default function tempParent(): () => void {
  const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'hs-run-'));
  process.env[TEMP_PARENT_VARIABLE] = parent;
  return () => removeUnlessMounted(parent);
}
