import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { STAND_IN_METADATA, startStandIns, type StandIns } from '../support/standins/index.js';
import { repoRoot, startService, type RunningService } from '../support/service.js';
import { waitFor } from '../support/wait.js';

let standIns: StandIns;
let service: RunningService | undefined;

beforeEach(async () => {
  standIns = await startStandIns();
});
afterEach(async () => {
  if (service && service.process.exitCode === null) await service.stop('SIGKILL');
  service = undefined;
  await standIns.close();
});

const HEARTBEAT_FIELDS = [
  'AuthToken',
  'Timestamp',
  'HeartbeatNumber',
  'InstanceID',
  'InstanceType',
  'TotalRAMinKB',
  'FreeRAMinKB',
  'AvailRAMinKB',
  'IsDyingHeartbeat',
].sort();

describe('start', () => {
  it('shakes hands with the instance id from the metadata service, then sends heartbeat 0 with every field', async () => {
    service = await startService({ env: standIns.env });
    const heartbeat = await waitFor('heartbeat 0', () => standIns.webserver.heartbeats()[0]);

    // IMDSv2: a session token first, then every value asked with it.
    const metadataRequests = standIns.metadata.requests;
    expect(metadataRequests[0]).toMatchObject({ method: 'PUT', path: '/latest/api/token' });
    expect(
      metadataRequests
        .filter((r) => r.method === 'GET')
        .every((r) => r.headers['x-aws-ec2-metadata-token'] === standIns.metadata.token),
    ).toBe(true);

    const [handshake] = standIns.webserver.handshakes();
    expect(handshake!.InstanceID).toBe(STAND_IN_METADATA['instance-id']);
    expect(handshake!.at).toBeLessThanOrEqual(heartbeat.at);

    const { at: _at, ...body } = heartbeat;
    expect(Object.keys(body).sort()).toEqual(HEARTBEAT_FIELDS);
    expect(body).toMatchObject({
      AuthToken: standIns.webserver.authToken,
      HeartbeatNumber: 0,
      InstanceID: STAND_IN_METADATA['instance-id'],
      InstanceType: STAND_IN_METADATA['instance-type'],
      IsDyingHeartbeat: false,
    });
    expect(Math.abs(Date.parse(body.Timestamp) - Date.now())).toBeLessThan(60_000);
    for (const field of ['TotalRAMinKB', 'FreeRAMinKB', 'AvailRAMinKB'] as const) {
      expect(body[field]).toMatch(/^\d+$/);
    }
    const total = Number(body.TotalRAMinKB);
    // Plausible: the machine's own total (the kernel reports the same figure to os.totalmem), and free <= available <= total.
    expect(total).toBe(Math.round(os.totalmem() / 1024));
    expect(Number(body.FreeRAMinKB)).toBeLessThanOrEqual(Number(body.AvailRAMinKB));
    expect(Number(body.AvailRAMinKB)).toBeLessThanOrEqual(total);
  });

  it('numbers heartbeats from 0 by one, spaced within the interval ±1/12', async () => {
    const intervalMs = 1200;
    service = await startService({ env: { ...standIns.env, HEARTBEAT_INTERVAL_MS: String(intervalMs) } });
    const beats = await waitFor(
      '6 heartbeats',
      () => {
        const all = standIns.webserver.heartbeats();
        return all.length >= 6 ? all.slice(0, 6) : undefined;
      },
      20_000,
    );
    expect(beats.map((b) => b.HeartbeatNumber)).toEqual([0, 1, 2, 3, 4, 5]);
    // Gaps between the beats' own timestamps, not their arrivals: the first
    // beat also opens the connection, which once made an arrival gap 34 ms short.
    const sentAt = beats.map((b) => Date.parse(b.Timestamp));
    const gaps = sentAt.slice(1).map((t, i) => t - sentAt[i]!);
    for (const gap of gaps) {
      // The range is 1100–1300 ms; allow for the event loop and the /proc read before the stamp.
      expect(gap).toBeGreaterThanOrEqual(intervalMs - intervalMs / 12 - 60);
      expect(gap).toBeLessThanOrEqual(intervalMs + intervalMs / 12 + 150);
    }
    // Random, not fixed: the gaps are not all the same.
    expect(new Set(gaps.map((g) => Math.round(g / 10))).size).toBeGreaterThan(1);
  });
});

describe('the one shutdown path', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal}: the dying heartbeat arrives, the private folder is removed, exit code 0`, async () => {
      service = await startService({ env: standIns.env });
      await waitFor('heartbeat 0', () => standIns.webserver.heartbeats()[0]);
      expect(fs.existsSync(service.mappings)).toBe(true);
      expect(fs.existsSync(service.privateDir)).toBe(true);

      const sentAt = Date.now();
      const code = await service.stop(signal, 10_000);
      const tookMs = Date.now() - sentAt;
      expect(code).toBe(0);
      expect(tookMs).toBeLessThan(5000);
      const beats = standIns.webserver.heartbeats();
      const last = beats[beats.length - 1]!;
      expect(last.IsDyingHeartbeat).toBe(true);
      expect(last.HeartbeatNumber).toBe(beats.length - 1);
      expect(beats.filter((b) => b.IsDyingHeartbeat)).toHaveLength(1);
      // Running containers bind-mount it: the folder itself is never removed.
      expect(fs.existsSync(service.mappings)).toBe(true);
      expect(fs.existsSync(service.privateDir)).toBe(false);
      // Cloud storage may hold users' files: never removed.
      expect(fs.existsSync(service.cloudStorage)).toBe(true);
    });
  }

  it('a second signal during shutdown does not start a second shutdown', async () => {
    service = await startService({ env: standIns.env });
    await waitFor('heartbeat 0', () => standIns.webserver.heartbeats()[0]);
    // The webserver holds the dying heartbeat a while, so the second signal lands mid-shutdown.
    standIns.webserver.setHandler((r) =>
      r.body.includes('"IsDyingHeartbeat":true')
        ? { status: 202, body: {}, delayMs: 1000 }
        : { status: 202, body: {} },
    );
    service.process.kill('SIGTERM');
    await waitFor('the dying heartbeat on its way', () =>
      standIns.webserver.heartbeats().some((b) => b.IsDyingHeartbeat),
    );
    service.process.kill('SIGINT');
    expect(await service.stop('SIGTERM', 10_000)).toBe(0);
    expect(standIns.webserver.heartbeats().filter((b) => b.IsDyingHeartbeat)).toHaveLength(1);
    expect(service.logs.filter((l) => l.msg.startsWith('stopping:'))).toHaveLength(1);
    // It waited for the held heartbeat instead of exiting at the second signal.
    const exitLine = service.logs.find((l) => l.msg === 'host service exited')!;
    expect(exitLine['reason']).toBe('SIGTERM');
  });

  it('a fatal error: Sentry gets the error with release and aws tags, then the dying heartbeat, then a non-zero exit', async () => {
    service = await startService({
      env: { ...standIns.env, USE_PROD_SENTRY: 'true', HOST_SERVICE_DEBUG_FATAL_AFTER_MS: '300' },
    });
    const code = await service.exited;
    expect(code).not.toBe(0);
    expect(code).not.toBeNull();

    const commit = service.logs.find((l) => l.msg === 'host service starting')!['commit'];
    const events = standIns.sentry.events();
    const forced = events.find((e) =>
      e.exception?.values?.some((v) => v.value?.includes('forced fatal error')),
    );
    expect(forced, JSON.stringify(events)).toBeDefined();
    expect(forced!.release).toBe(commit);
    expect(forced!.environment).toBe('development');
    expect(forced!.tags).toMatchObject({
      'aws.ami-id': STAND_IN_METADATA['ami-id'],
      'aws.ami-launch-index': STAND_IN_METADATA['ami-launch-index'],
      'aws.instance-id': STAND_IN_METADATA['instance-id'],
      'aws.instance-type': STAND_IN_METADATA['instance-type'],
      'aws.placement-region': STAND_IN_METADATA['placement/region'],
      'aws.public-ipv4': STAND_IN_METADATA['public-ipv4'],
    });
    const dying = standIns.webserver.heartbeats().find((b) => b.IsDyingHeartbeat);
    expect(dying).toBeDefined();
    const lastEnvelopeAt = Math.max(...events.map((e) => e.at));
    expect(dying!.at).toBeGreaterThanOrEqual(lastEnvelopeAt);
    expect(fs.existsSync(service.mappings)).toBe(true);
    expect(fs.existsSync(service.privateDir)).toBe(false);
  });
  it('reports to Sentry without running an AsyncLocalStorage, which would leave async hooks on for good', async () => {
    service = await startService({
      env: { ...standIns.env, USE_PROD_SENTRY: 'true', HOST_SERVICE_DEBUG_FATAL_AFTER_MS: '300' },
      nodeFlags: ['--import', path.join(repoRoot, 'test/support/asyncLocalStorageProbe.mjs')],
    });
    expect(await service.exited).not.toBe(0);
    expect(standIns.sentry.events().length).toBeGreaterThan(0);
    expect(service.otherOutput.filter((line) => line.startsWith('AsyncLocalStorage.'))).toEqual([]);
  });
});

describe('webserver failures', () => {
  it('down at start: retries show in the logs, then the fatal path runs', async () => {
    standIns.webserver.setDown(true);
    service = await startService({
      env: {
        ...standIns.env,
        HOST_SERVICE_HANDSHAKE_TIMEOUT_MS: '2500',
        HOST_SERVICE_HANDSHAKE_RETRY_MS: '100',
      },
      waitForEngine: false,
    });
    const code = await service.exited;
    expect(code).toBe(1);
    const retries = service.logs.filter((l) => /^handshake attempt \d+ failed, retrying/.test(l.msg));
    expect(retries.length).toBeGreaterThanOrEqual(3);
    expect(retries[0]!.msg).toContain('HTTP 503');
    expect(standIns.webserver.handshakes().length).toBeGreaterThanOrEqual(retries.length);
    const exit = service.logs.find((l) => l.msg === 'host service exited')!;
    expect(String(exit['reason'])).toMatch(/^handshake failed \d+ times, giving up/);
    // Containers were never accepted; the mapping folder stays (never removed), the private one goes.
    expect(service.logs.some((l) => l.msg === 'engine connected')).toBe(false);
    expect(fs.existsSync(service.mappings)).toBe(true);
    expect(fs.existsSync(service.privateDir)).toBe(false);
  });

  it('down later: heartbeats fail, the service stays up, and recovers when it returns', async () => {
    service = await startService({ env: { ...standIns.env, HEARTBEAT_INTERVAL_MS: '1000' } });
    await waitFor('heartbeat 0', () => standIns.webserver.heartbeats()[0]);
    standIns.webserver.setDown(true);
    await waitFor(
      'two failed heartbeats',
      () => service!.logs.filter((l) => l.msg === 'heartbeat failed').length >= 2,
      10_000,
    );
    expect(service.process.exitCode).toBeNull();
    const failed = service.logs.filter((l) => l.msg === 'heartbeat failed');
    expect(failed[0]!['reason']).toContain('HTTP 503');

    standIns.webserver.setDown(false);
    const recoveredFrom = Math.max(...failed.map((l) => Number(l['heartbeatNumber'])));
    await waitFor('a heartbeat sent after the webserver came back', () =>
      service!.logs.some((l) => l.msg === 'heartbeat sent' && Number(l['heartbeatNumber']) > recoveredFrom),
    );
    expect(await service.stop()).toBe(0);
  });
});

describe('metadata service down', () => {
  it('development falls back to local values, clearly labelled', async () => {
    service = await startService({ env: { ...standIns.env, EC2_METADATA_URL: 'http://127.0.0.1:9' } });
    const warning = await service.waitForLog('the fallback warning', (l) => l['source'] === 'local-fallback');
    expect(warning.msg).toContain('LOCAL DEVELOPMENT VALUES');
    const handshake = await waitFor('the handshake', () => standIns.webserver.handshakes()[0]);
    expect(handshake.InstanceID).toBe(`local-${os.hostname()}`);
    expect(await service.stop()).toBe(0);
  });

  it('production fails with a clear message', async () => {
    service = await startService({
      env: {
        ...standIns.env,
        APP_ENV: 'production',
        WEBSERVER_AUTH_SECRET: 'test-secret',
        EC2_METADATA_URL: 'http://127.0.0.1:9',
      },
      waitForEngine: false,
    });
    expect(await service.exited).toBe(1);
    const exit = service.logs.find((l) => l.msg === 'host service exited')!;
    expect(String(exit['reason'])).toContain(
      'instance metadata is unavailable, and production runs only on EC2',
    );
    expect(standIns.webserver.handshakes()).toHaveLength(0);
  });
});
