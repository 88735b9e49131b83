import { afterEach, describe, expect, it } from 'vitest';
import { InstanceMetadataClient, MetadataUnavailable } from '../../src/metadata/instanceMetadata.js';
import {
  startMetadataStandIn,
  STAND_IN_METADATA,
  type MetadataStandIn,
} from '../support/standins/metadata.js';

let standIn: MetadataStandIn | undefined;
afterEach(async () => {
  await standIn?.close();
  standIn = undefined;
});

describe('IMDSv2 client', () => {
  it('asks for a session token, then every value with it', async () => {
    standIn = await startMetadataStandIn();
    const client = new InstanceMetadataClient(standIn.url);
    expect(await client.getAll()).toEqual(STAND_IN_METADATA);
    const [first, ...rest] = standIn.requests;
    expect(first).toMatchObject({ method: 'PUT', path: '/latest/api/token' });
    expect(first!.headers['x-aws-ec2-metadata-token-ttl-seconds']).toBe('21600');
    expect(rest).toHaveLength(6);
    expect(rest.every((r) => r.headers['x-aws-ec2-metadata-token'] === standIn!.token)).toBe(true);
  });

  it('caches answers for the life of the process', async () => {
    standIn = await startMetadataStandIn();
    const client = new InstanceMetadataClient(standIn.url);
    await client.get('instance-id');
    const asked = standIn.requests.length;
    expect(await client.get('instance-id')).toBe(STAND_IN_METADATA['instance-id']);
    expect(standIn.requests.length).toBe(asked);
  });

  it('does not cache failures: a later call asks again', async () => {
    standIn = await startMetadataStandIn();
    const client = new InstanceMetadataClient(standIn.url);
    standIn.setHandler(() => ({ status: 500, body: 'broken' }));
    await expect(client.get('instance-type')).rejects.toBeInstanceOf(MetadataUnavailable);
    const token = standIn.token;
    standIn.setHandler((r) => {
      if (r.method === 'PUT') return { status: 200, body: token };
      return r.headers['x-aws-ec2-metadata-token'] === token
        ? { status: 200, body: STAND_IN_METADATA['instance-type']! }
        : { status: 401, body: 'no token' };
    });
    expect(await client.get('instance-type')).toBe(STAND_IN_METADATA['instance-type']);
  });

  it('gives up on a call after 1 s', async () => {
    standIn = await startMetadataStandIn();
    standIn.setHandler(() => ({ status: 200, hang: true }));
    const client = new InstanceMetadataClient(standIn.url);
    const started = Date.now();
    await expect(client.get('instance-id')).rejects.toThrow(/no answer within 1000 ms/);
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(950);
    expect(took).toBeLessThan(3000);
  });

  it('fails clearly when nothing listens', async () => {
    const client = new InstanceMetadataClient('http://127.0.0.1:9');
    await expect(client.get('instance-id')).rejects.toThrow(/session token: .*ECONNREFUSED/);
  });
});
