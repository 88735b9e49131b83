/**
 * A real S3-compatible server on 127.0.0.1 (s3rver, objects in a temporary
 * folder) with a forwarding proxy in front of it that can refuse chosen
 * requests, the way a bucket policy or a dying server would.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { s3ClientFor } from '../../scripts/release/s3.js';

/** s3rver's fixed credentials: it checks every request's signature against them. */
export const S3_CREDENTIALS = {
  AWS_ACCESS_KEY_ID: 'S3RVER',
  AWS_SECRET_ACCESS_KEY: 'S3RVER',
  AWS_REGION: 'us-east-1',
};

export interface Refusal {
  method: string;
  /** The request's path, `/bucket/key`. */
  path: string;
}

export interface S3Server {
  /** The proxy's URL: what clients use as their endpoint. */
  url: string;
  client: S3Client;
  /** Environment for `make release`, the AWS CLI and the SDK: endpoint and credentials. */
  env: Record<string, string>;
  /** Refuse (403) the requests this matches, from now on; undefined lets all through. */
  refuse(match: ((request: Refusal) => boolean) | undefined): void;
  /** Requests the proxy refused. */
  refused: Refusal[];
  keys(bucket: string, prefix?: string): Promise<string[]>;
  read(bucket: string, key: string): Promise<Buffer>;
  close(): Promise<void>;
}

const ACCESS_DENIED =
  '<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>';

async function listen(server: http.Server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return (server.address() as AddressInfo).port;
}

export async function startS3Server(buckets: string[]): Promise<S3Server> {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'hs-s3-'));
  const s3rver = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    configureBuckets: buckets.map((name) => ({ name })),
  });
  await s3rver.run();
  const backendPort = (s3rver.httpServer.address() as AddressInfo).port;

  let match: ((request: Refusal) => boolean) | undefined;
  const refused: Refusal[] = [];
  const proxy = http.createServer((req, res) => {
    const request = { method: req.method ?? '', path: (req.url ?? '').split('?')[0]! };
    if (match?.(request)) {
      refused.push(request);
      req.resume();
      req.on('end', () => {
        res.writeHead(403, { 'Content-Type': 'application/xml' });
        res.end(ACCESS_DENIED);
      });
      return;
    }
    const upstream = http.request(
      { host: '127.0.0.1', port: backendPort, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  const url = `http://127.0.0.1:${await listen(proxy)}`;
  Object.assign(process.env, S3_CREDENTIALS);
  const client = s3ClientFor({ bucket: buckets[0]!, endpoint: url });

  return {
    url,
    client,
    env: { ...S3_CREDENTIALS, AWS_ENDPOINT_URL: url },
    refuse: (next) => {
      match = next;
    },
    refused,
    keys: async (bucket, prefix) => {
      const listed = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
      return (listed.Contents ?? []).map((o) => o.Key!).sort();
    },
    read: async (bucket, key) => {
      const object = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return Buffer.from(await object.Body!.transformToByteArray());
    },
    close: async () => {
      proxy.closeAllConnections();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
      await s3rver.close();
      fs.rmSync(directory, { recursive: true, force: true });
    },
  };
}
