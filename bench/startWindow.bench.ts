/**
 * The window that sizes HOST_SERVICE_CONNECTED_REQUEST_WAIT_MS: from `docker
 * run` returning (the moment the webserver may send its DPI request) to the
 * service having that container's folder written, which is after it handled
 * the container's `start` event. Same clock on both sides (the log line's
 * `time`); a negative window is a folder written before the client read
 * `docker run`'s answer. Run with 1, 8 and 16 `docker run`s at a time.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { removeAllContainers, testImage } from '../test/support/engine.js';
import { startService } from '../test/support/service.js';
import { waitFor } from '../test/support/wait.js';

const run = promisify(execFile);
const SHAPES: Array<{ atATime: number; rounds: number }> = [
  { atATime: 1, rounds: 30 },
  { atATime: 8, rounds: 6 },
  { atATime: 16, rounds: 4 },
];

const at = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;

await removeAllContainers();
const service = await startService();
try {
  for (const { atATime, rounds } of SHAPES) {
    const windows: number[] = [];
    for (let round = 0; round < rounds; round++) {
      await Promise.all(
        Array.from({ length: atATime }, async () => {
          const { stdout } = await run('docker', [
            'run',
            '-d',
            '-p',
            '127.0.0.1::32262/tcp',
            testImage,
            'sleep',
            '600',
          ]);
          const returnedAt = Date.now();
          const id = stdout.trim();
          const written = await waitFor(
            `the folder of ${id}`,
            () =>
              service.logs.find(
                (l) => l.containerId === id && /^tty \d+ and host port \d+ written$/.test(l.msg),
              ),
            30_000,
            2,
          );
          windows.push(Number(written['time']) - returnedAt);
        }),
      );
    }
    windows.sort((a, b) => a - b);
    console.log(
      `${atATime} at a time, n=${windows.length}: min ${windows[0]} ms, p50 ${at(windows, 0.5)} ms, ` +
        `p90 ${at(windows, 0.9)} ms, p99 ${at(windows, 0.99)} ms, max ${windows.at(-1)} ms`,
    );
    await removeAllContainers();
  }
} finally {
  await removeAllContainers();
  await service.stop();
}
