/**
 * The EC2 instance metadata service, IMDSv2 only: a value is answered only
 * with a token that this stand-in handed out.
 */
import { startHttpStandIn, type HttpStandIn } from './httpStandIn.js';

export const STAND_IN_METADATA: Record<string, string> = {
  'instance-id': 'i-0123456789abcdef0',
  'instance-type': 'g4dn.xlarge',
  'ami-id': 'ami-0fedcba9876543210',
  'ami-launch-index': '0',
  'placement/region': 'us-east-1',
  'public-ipv4': '203.0.113.7',
};

export interface MetadataStandIn extends HttpStandIn {
  values: Record<string, string>;
  token: string;
}

export async function startMetadataStandIn(values = STAND_IN_METADATA): Promise<MetadataStandIn> {
  const token = `imds-${Math.random().toString(36).slice(2)}`;
  const standIn = await startHttpStandIn((request) => {
    if (request.method === 'PUT' && request.path === '/latest/api/token') {
      if (!request.headers['x-aws-ec2-metadata-token-ttl-seconds']) return { status: 400, body: 'no ttl' };
      return { status: 200, body: token };
    }
    if (request.method === 'GET' && request.path.startsWith('/latest/meta-data/')) {
      if (request.headers['x-aws-ec2-metadata-token'] !== token) return { status: 401, body: 'no token' };
      const value = values[request.path.slice('/latest/meta-data/'.length)];
      return value === undefined ? { status: 404, body: 'not found' } : { status: 200, body: value };
    }
    return { status: 404, body: 'not found' };
  });
  return { ...standIn, values, token };
}
