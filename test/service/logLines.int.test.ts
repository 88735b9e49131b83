/**
 * The log as a person reads it under `make run` (pretty, development): one
 * line per record, warn for what is not ours, one line for a death, one line
 * per heartbeat and per state snapshot. Error level is kept for what needs a
 * person.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDevService, type DevService } from '../support/devService.js';
import { publishedPort, removeContainer, startContainer } from '../support/engine.js';
import { waitFor } from '../support/wait.js';

const run = promisify(execFile);
/** How pino-pretty begins a record: `[HH:MM:ss.l] LEVEL (pid): message`. */
const RECORD = /^\[\d\d:\d\d:\d\d\.\d{3}\] (TRACE|DEBUG|INFO|WARN|ERROR|FATAL) \(\d+\): /;

describe('log lines', () => {
  let service: DevService;

  beforeAll(async () => {
    service = await startDevService({
      HEARTBEAT_INTERVAL_MS: '1000',
      HOST_SERVICE_DPI_TIMEOUT_MS: '1000',
    });
  });
  afterAll(async () => {
    expect(await service?.stop()).toBe(0);
  });

  const linesAbout = (text: string) => service.lines.filter((l) => l.includes(text));

  it('every record is one line', async () => {
    // A few heartbeats and a state snapshot first: each was a many-line block before.
    await service.waitForLine('heartbeat 3', (l) => l.includes('"HeartbeatNumber":3'), 10_000);
    process.kill(service.pid, 'SIGUSR2');
    const snapshot = await service.waitForLine('the snapshot', (l) => l.includes('state snapshot'));
    expect(snapshot).toMatch(RECORD);
    expect(snapshot).toMatch(/"stateSnapshot":\{.*"host":\{.*\}\}$/);
    const notRecords = service.lines.filter((l) => !RECORD.test(l));
    expect(notRecords).toEqual([]);
    for (const n of [1, 2, 3]) expect(linesAbout(`"HeartbeatNumber":${n},`)).toHaveLength(1);
  });

  it('a container without a published 32262 is one warn line with its id, no stack', async () => {
    const container = await startContainer({ publish: false });
    const line = await service.waitForLine('the warning', (l) => l.includes(container.id));
    expect(line).toMatch(RECORD);
    expect(line).toMatch(/^\S+ WARN /);
    expect(line).toContain('not a streaming container: no host port is published for 32262/tcp');
    await removeContainer(container.id);
    // Its death after the rejection adds nothing; nothing about it is an error or a stack.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(linesAbout(container.id)).toEqual([line]);
    expect(service.lines.filter((l) => / ERROR /.test(l) || /^\s+at /.test(l))).toEqual([]);
  });

  it('overdue DPI are one warn line; a death and its clean-up one info line', async () => {
    const container = await startContainer();
    const hostPort = await publishedPort(container.id);
    const overdue = await service.waitForLine(
      'the overdue warning',
      (l) => l.includes(`no DPI from the webserver after 1000 ms`) && l.includes(container.id),
    );
    expect(overdue).toMatch(/^\S+ WARN /);
    expect(overdue).toContain(`"hostPort":${hostPort}`);
    const before = linesAbout(container.id).length;
    await run('docker', ['rm', '-f', container.id]);
    const gone = await service.waitForLine(
      'the death line',
      (l) => l.includes('container gone') && l.includes(container.id),
    );
    expect(gone).toMatch(/^\S+ INFO /);
    expect(gone).toContain(`"hostPort":${hostPort}`);
    await waitFor('no more lines about it', async () => {
      await new Promise((resolve) => setTimeout(resolve, 300));
      return linesAbout(container.id).length === before + 1;
    });
    expect(service.lines.filter((l) => / ERROR /.test(l))).toEqual([]);
  });
});
