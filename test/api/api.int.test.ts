import { X509Certificate, createPrivateKey } from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient, freePort, send, type ApiClient } from '../support/api.js';
import { publishedPort, removeAllContainers, removeContainer, startContainer } from '../support/engine.js';
import { readFolder } from '../support/mappings.js';
import { startService, TEST_AUTH_SECRET, type RunningService } from '../support/service.js';
import { waitFor } from '../support/wait.js';

const REQUEST_WAIT_MS = 1500;

/** Every path under the root, so a test can show that nothing appeared elsewhere. */
function tree(dir: string, prefix = ''): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const rel = path.join(prefix, entry.name);
    return entry.isDirectory() ? [rel, ...tree(path.join(dir, entry.name), rel)] : [rel];
  });
}

const mountFields = (hostPort: number, provider: string) => ({
  host_port: hostPort,
  provider,
  access_token: 'access-token-value',
  refresh_token: 'refresh-token-value',
  expiry: '2030-01-01T00:00:00Z',
  token_type: 'Bearer',
  client_id: 'client-id-value',
  client_secret: 'client-secret-value',
});

async function runningContainer(service: RunningService) {
  const container = await startContainer();
  const hostPort = await publishedPort(container.id);
  await waitFor('the folder', () => readFolder(service.mappings, container.id)?.tty !== undefined);
  return { id: container.id, hostPort };
}

describe('the HTTPS API', () => {
  let service: RunningService;
  let api: ApiClient;

  beforeAll(async () => {
    await removeAllContainers();
    service = await startService({ env: { HOST_SERVICE_REQUEST_WAIT_MS: String(REQUEST_WAIT_MS) } });
    api = await apiClient(service, { keepAlive: true });
  });
  afterAll(async () => {
    api.close();
    await removeAllContainers();
    expect(await service.stop()).toBe(0);
    // The private folder goes at stop; the cloud storage root stays.
    expect(fs.existsSync(service.privateDir)).toBe(false);
    expect(fs.existsSync(service.cloudStorage)).toBe(true);
  });

  it('serves TLS with a fresh ECDSA P-256 certificate, its key readable by root only', () => {
    const key = path.join(service.privateDir, 'key.pem');
    expect(fs.statSync(key).mode & 0o777).toBe(0o600);
    const cert = new X509Certificate(fs.readFileSync(path.join(service.privateDir, 'cert.pem')));
    expect(cert.publicKey.asymmetricKeyType).toBe('ec');
    expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(cert.checkPrivateKey(createPrivateKey(fs.readFileSync(key)))).toBe(true);
    expect(new Date(cert.validTo).getTime()).toBeGreaterThan(Date.now() + 365 * 24 * 3600 * 1000);
  });

  it('answers 404 for every other path, whatever the method', async () => {
    for (const [method, urlPath] of [
      ['GET', '/'],
      ['PUT', '/set_container_dpi/'],
      ['POST', '/mount_cloud_storage/../etc'],
      ['PUT', '/SET_CONTAINER_DPI'],
    ] as const) {
      const res = await api.request(method, urlPath, { auth_secret: TEST_AUTH_SECRET });
      expect(res, `${method} ${urlPath}`).toMatchObject({ status: 404, body: 'not found' });
    }
  });

  it('answers 400 for the wrong method before reading the body', async () => {
    expect(await api.request('GET', '/set_container_dpi')).toMatchObject({
      status: 400,
      body: 'method GET not allowed; use PUT',
    });
    expect(await api.request('POST', '/set_container_dpi', 'not even json')).toMatchObject({
      status: 400,
      body: 'method POST not allowed; use PUT',
    });
    expect(await api.request('PUT', '/mount_cloud_storage', {})).toMatchObject({
      status: 400,
      body: 'method PUT not allowed; use POST',
    });
  });

  it('answers 400 for a 10 MB body, declared or streamed, and keeps serving', async () => {
    const big = Buffer.alloc(10 * 1024 * 1024, 'a');
    const declared = await api.request('PUT', '/set_container_dpi', big);
    expect(declared).toMatchObject({ status: 400, body: 'request body larger than 65536 bytes' });
    // Chunked: no length announced, the server counts while reading.
    const streamed = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = https.request(
        {
          host: '127.0.0.1',
          port: service.port,
          method: 'PUT',
          path: '/set_container_dpi',
          agent: api.agent,
          headers: { 'Transfer-Encoding': 'chunked' },
        },
        (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('error', (error) => setTimeout(() => reject(error), 500));
      const chunk = Buffer.alloc(64 * 1024, 'b');
      let sent = 0;
      const pump = () => {
        while (sent < 160) {
          sent += 1;
          if (!req.write(chunk)) return void req.once('drain', pump);
        }
        req.end();
      };
      pump();
    });
    expect(streamed).toMatchObject({ status: 400, body: 'request body larger than 65536 bytes' });
    expect(await api.request('GET', '/nothing')).toMatchObject({ status: 404 });
  });

  it('answers 400 for a body that is not JSON or not an object', async () => {
    for (const body of ['{"auth_secret":', 'hello', '']) {
      expect(await api.request('PUT', '/set_container_dpi', body)).toMatchObject({
        status: 400,
        body: 'request body is not JSON',
      });
    }
    for (const body of ['[1,2]', '"text"', '42', 'null', 'true']) {
      expect(await api.request('PUT', '/set_container_dpi', body), body).toMatchObject({
        status: 400,
        body: 'request body is not a JSON object',
      });
    }
  });

  it('answers 401 for a missing, empty, wrong or wrong-length auth_secret, before looking at other fields', async () => {
    const missing = await api.request('PUT', '/set_container_dpi', { host_port: 'x', dpi: 'y' });
    expect(missing).toMatchObject({ status: 401, body: 'auth_secret is missing' });
    for (const auth_secret of ['', 12345, null]) {
      expect(
        await api.request('PUT', '/set_container_dpi', { auth_secret, host_port: 1, dpi: 1 }),
      ).toMatchObject({
        status: 401,
        body: 'auth_secret is missing',
      });
    }
    const sameLength = TEST_AUTH_SECRET.slice(0, -1) + (TEST_AUTH_SECRET.endsWith('a') ? 'b' : 'a');
    for (const auth_secret of [sameLength, `${TEST_AUTH_SECRET}x`, 'short', TEST_AUTH_SECRET.toUpperCase()]) {
      expect(
        await api.request('POST', '/mount_cloud_storage', { auth_secret, host_port: 'bad' }),
        auth_secret,
      ).toMatchObject({ status: 401, body: 'auth_secret is wrong' });
    }
  });

  it('answers 400 naming the field that is missing, of the wrong type or out of range', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ host_port: -1, dpi: 96 }, 'bad field host_port: expected an integer from 1 to 65535'],
      [{ host_port: 65536, dpi: 96 }, 'bad field host_port: expected an integer from 1 to 65535'],
      [{ host_port: '4000', dpi: 96 }, 'bad field host_port: expected an integer from 1 to 65535'],
      [{ host_port: 4000.5, dpi: 96 }, 'bad field host_port: expected an integer from 1 to 65535'],
      [{ dpi: 96 }, 'missing field host_port: expected an integer from 1 to 65535'],
      [{ host_port: 4000, dpi: '96' }, 'bad field dpi: expected an integer from 1 to 10000'],
      [{ host_port: 4000, dpi: 0 }, 'bad field dpi: expected an integer from 1 to 10000'],
    ];
    for (const [fields, text] of cases) {
      const res = await api.request('PUT', '/set_container_dpi', {
        auth_secret: TEST_AUTH_SECRET,
        ...fields,
      });
      expect(res, JSON.stringify(fields)).toMatchObject({ status: 400, body: text });
    }
    const { access_token: _omitted, ...noToken } = mountFields(4000, 'google_drive');
    expect(await api.mount(noToken)).toMatchObject({
      status: 400,
      body: 'missing field access_token: expected a string',
    });
    expect(await api.mount({ ...mountFields(4000, 'google_drive'), expiry: 5 })).toMatchObject({
      status: 400,
      body: 'bad field expiry: expected a string',
    });
    expect(await api.mount({ ...mountFields(70000, 'google_drive') })).toMatchObject({
      status: 400,
      body: 'bad field host_port: expected an integer from 1 to 65535',
    });
  });

  it('answers 406 for providers that sanitise to nothing or to no known provider, writing nothing', async () => {
    const before = tree(service.root);
    const cases: [string, string][] = [
      ['../../etc', 'unknown cloud storage provider etc (known: dropbox, google_drive)'],
      ['', 'the provider name has no letters, digits or underscores'],
      ['../..', 'the provider name has no letters, digits or underscores'],
      ['ドライブ', 'the provider name has no letters, digits or underscores'],
      ['/', 'the provider name has no letters, digits or underscores'],
    ];
    for (const [provider, error] of cases) {
      const res = await api.mount(mountFields(4000, provider));
      expect(res, provider).toMatchObject({ status: 406 });
      expect(JSON.parse(res.body), provider).toEqual({ result: '', error });
    }
    expect(tree(service.root)).toEqual(before);
  });

  it('answers 406 for an unknown host port after the bounded wait', async () => {
    const port = await freePort();
    const started = Date.now();
    const res = await api.setDpi(port, 96);
    expect(Date.now() - started).toBeGreaterThanOrEqual(REQUEST_WAIT_MS - 50);
    expect(res.status).toBe(406);
    expect(JSON.parse(res.body)).toEqual({
      result: '',
      error: `no container with host port ${port} after waiting ${REQUEST_WAIT_MS} ms`,
    });
    const mount = await api.mount(mountFields(port, 'google drive'));
    expect(JSON.parse(mount.body)).toEqual({
      result: '',
      error: `no container with host port ${port} after waiting ${REQUEST_WAIT_MS} ms`,
    });
  });

  it('writes DPI then .ready for a running container and answers 200; a second DPI replaces the first', async () => {
    const { id, hostPort } = await runningContainer(service);
    const res = await api.setDpi(hostPort, 192);
    expect(res).toMatchObject({ status: 200 });
    expect(res.headers['content-type']).toBe('application/json');
    expect(JSON.parse(res.body)).toEqual({ result: `DPI of container ${id} set to 192` });
    const dir = path.join(service.mappings, id);
    expect(fs.readFileSync(path.join(dir, 'DPI'), 'utf8')).toBe('192');
    expect(fs.readFileSync(path.join(dir, '.ready'), 'utf8')).toBe('.ready');
    expect(fs.statSync(path.join(dir, 'DPI')).mode & 0o777).toBe(0o644);

    expect((await api.setDpi(hostPort, 96)).status).toBe(200);
    expect(fs.readFileSync(path.join(dir, 'DPI'), 'utf8')).toBe('96');
    expect(fs.statSync(path.join(dir, 'DPI')).mode & 0o777).toBe(0o644);
    const shownAt96 = fs.statSync(path.join(dir, 'DPI')).ino;

    // Several at once for the same container (a webserver retrying): each waits its turn and gets a 200.
    const sideBySide = await Promise.all([120, 144, 168].map((dpi) => api.setDpi(hostPort, dpi)));
    expect(sideBySide.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(['120', '144', '168']).toContain(fs.readFileSync(path.join(dir, 'DPI'), 'utf8'));

    // A DPI shown before comes back as the same file: nothing made, nothing written.
    expect((await api.setDpi(hostPort, 96)).status).toBe(200);
    expect(fs.readFileSync(path.join(dir, 'DPI'), 'utf8')).toBe('96');
    expect(fs.statSync(path.join(dir, 'DPI')).ino).toBe(shownAt96);
    await removeContainer(id);
    await waitFor('the folder removed', () => readFolder(service.mappings, id) === undefined);
  });

  it('takes a DPI request sent before the container starts, once it starts (the race)', async () => {
    const hostPort = await freePort();
    const pending = api.setDpi(hostPort, 144);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const container = await startContainer({ hostPort });
    const res = await pending;
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ result: `DPI of container ${container.id} set to 144` });
    expect(readFolder(service.mappings, container.id)).toMatchObject({ dpi: 144, ready: true, hostPort });
    await removeContainer(container.id);
  });

  it('gives 50 running containers their own DPI concurrently; .ready never comes before a complete DPI', async () => {
    await removeAllContainers();
    const containers = await Promise.all(Array.from({ length: 50 }, () => runningContainer(service)));
    const dpiOf = (i: number) => 100 + i;
    const violations: string[] = [];
    let watching = true;
    // Looks at every folder as a container would, as often as it can, while the requests run.
    const watcher = (async () => {
      while (watching) {
        containers.forEach(({ id }, i) => {
          const dir = path.join(service.mappings, id);
          if (!fs.existsSync(path.join(dir, '.ready'))) return;
          let dpi: string | undefined;
          try {
            dpi = fs.readFileSync(path.join(dir, 'DPI'), 'utf8');
          } catch {
            dpi = undefined;
          }
          if (dpi !== String(dpiOf(i))) violations.push(`${id}: .ready with DPI ${JSON.stringify(dpi)}`);
        });
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    const answers = await Promise.all(containers.map(({ hostPort }, i) => api.setDpi(hostPort, dpiOf(i))));
    watching = false;
    await watcher;
    expect(answers.map((a) => a.status)).toEqual(Array(50).fill(200));
    expect(violations).toEqual([]);
    containers.forEach(({ id }, i) =>
      expect(readFolder(service.mappings, id)).toMatchObject({ dpi: dpiOf(i), ready: true }),
    );
    await removeAllContainers();
  });

  it('answers 200 concurrent unauthenticated requests with 401 and stays up', async () => {
    const agent = new https.Agent({ rejectUnauthorized: false, keepAlive: false });
    const settled = await Promise.allSettled(
      Array.from({ length: 200 }, (_, i) =>
        send(agent, service.port, 'PUT', '/set_container_dpi', {
          auth_secret: `guess-${i}`,
          host_port: 1,
          dpi: 1,
        }),
      ),
    );
    agent.destroy();
    // Each request that did not get the 401, by what it got instead, so that a failure says which.
    const unexpected = settled.flatMap((s, i) =>
      s.status === 'rejected'
        ? [`#${i}: ${String(s.reason)}`]
        : s.value.status === 401 && s.value.body === 'auth_secret is wrong'
          ? []
          : [`#${i}: ${s.value.status} ${s.value.body}`],
    );
    expect(unexpected).toEqual([]);
    expect(service.process.exitCode).toBeNull();
    expect(await api.request('GET', '/')).toMatchObject({ status: 404 });
  });

  it('never logs the auth_secret or a token', () => {
    const all = JSON.stringify(service.logs) + service.otherOutput.join('\n');
    for (const secret of [
      TEST_AUTH_SECRET,
      'access-token-value',
      'refresh-token-value',
      'client-secret-value',
    ]) {
      expect(all).not.toContain(secret);
    }
  });
});
