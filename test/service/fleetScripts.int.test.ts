/**
 * What the fleet's own scripts rely on (PROTOCOL.md section 9), against the
 * built service started as `make run` starts it: a container that mounts the
 * mapping folder read-only and waits for its `.ready`, the DPI request sent
 * with real curl and the development secret right after `docker run`, the
 * service found by its name, and `make status` showing the container.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDevService, type DevService } from '../support/devService.js';
import { testImage } from '../support/engine.js';
import { repoRoot } from '../support/service.js';
import { waitFor } from '../support/wait.js';

const run = promisify(execFile);

// As the fleet's entry script does: find the folder by the full container id, wait for `.ready`, read the values.
const ENTRY = [
  "id=$(busybox sed -n 's|.*/containers/\\([0-9a-f]\\{64\\}\\)/hostname .*|\\1|p' /proc/self/mountinfo | busybox head -n1)",
  'd=/fractal/containerResourceMappings/$id',
  'while [ ! -f "$d/.ready" ]; do sleep 0.1; done',
  'echo "id=$id tty=$(cat "$d/tty") port=$(cat "$d/hostPort_for_my_32262_tcp") dpi=$(cat "$d/DPI")"',
  'exec sleep 600',
].join('\n');

describe('the fleet scripts against the service as make run starts it', () => {
  let service: DevService;
  const containers: string[] = [];

  beforeAll(async () => {
    service = await startDevService();
  });
  afterAll(async () => {
    if (containers.length > 0) await run('docker', ['rm', '-f', ...containers]).catch(() => {});
    expect(await service?.stop()).toBe(0);
  });

  it('is found by its name: /proc comm, pidof, ps, and ss for its listener', async () => {
    expect(fs.readFileSync(`/proc/${service.pid}/comm`, 'utf8').trim()).toBe('ecs-host-servic');
    const pidof = await run('pidof', ['ecs-host-service']);
    expect(pidof.stdout.trim().split(/\s+/)).toContain(String(service.pid));
    const ps = await run('ps', ['-o', 'args=', '-p', String(service.pid)]);
    expect(ps.stdout.trim()).toBe('ecs-host-service');
    const ss = await run('ss', ['-ltnpH', `sport = :${service.port}`]);
    expect(ss.stdout).toContain(`("ecs-host-servic",pid=${service.pid},`);
  });

  it('takes a DPI request with the development secret sent by curl right after docker run', async () => {
    const mappings = path.join(service.root, 'fractal/containerResourceMappings');
    const { stdout } = await run('docker', [
      'run',
      '-d',
      '-p',
      '127.0.0.1::32262/tcp',
      '-v',
      `${mappings}:/fractal/containerResourceMappings:ro`,
      testImage,
      'sh',
      '-c',
      ENTRY,
    ]);
    const id = stdout.trim();
    containers.push(id);
    const port = await run('docker', ['port', id, '32262/tcp']);
    const hostPort = Number(port.stdout.trim().split('\n')[0]!.split(':').pop());

    const curl = await run('curl', [
      '--insecure',
      '--silent',
      '--show-error',
      '--write-out',
      '\n%{http_code}',
      '-X',
      'PUT',
      `https://localhost:${service.port}/set_container_dpi`,
      '-d',
      JSON.stringify({ auth_secret: 'testwebserverauthsecretdev', host_port: hostPort, dpi: 192 }),
    ]);
    const [body, status] = curl.stdout.trim().split('\n');
    expect(status).toBe('200');
    expect(body).toBe(JSON.stringify({ result: `DPI of container ${id} set to 192` }));

    const printed = await waitFor(
      'the container to print its values',
      async () => (await run('docker', ['logs', id])).stdout.trim() || undefined,
      15_000,
      100,
    );
    expect(printed).toBe(`id=${id} tty=10 port=${hostPort} dpi=192`);

    const status_ = await run('make', ['-s', 'status'], {
      cwd: repoRoot,
      env: {
        PATH: process.env['PATH'],
        HOME: process.env['HOME'],
        HOST_SERVICE_PORT: String(service.port),
        HOST_SERVICE_ROOT: service.root,
      },
    });
    const row = new RegExp(`^${id.slice(0, 12)}\\s+running\\.idle\\s+${hostPort}\\s+10\\s+192\\s`, 'm');
    expect(status_.stdout).toMatch(row);
  });

  it('answers a request for a host port no container has with a 406 after the short wait', async () => {
    const curl = await run('curl', [
      '--insecure',
      '--silent',
      '--write-out',
      '\n%{http_code}',
      '-X',
      'PUT',
      `https://localhost:${service.port}/set_container_dpi`,
      '-d',
      JSON.stringify({ auth_secret: 'testwebserverauthsecretdev', host_port: 1, dpi: 96 }),
    ]);
    const [body, status] = curl.stdout.trim().split('\n');
    expect(status).toBe('406');
    // The engine stream is connected and nothing is on its way: the 2 s wait, not the 30 s one.
    expect(body).toContain('no container with host port 1 after waiting 2000 ms');
  });
});
