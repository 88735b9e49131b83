/**
 * The bucket side of a release: every object under `<commit>/` first, and
 * only when all of them are there, copies under `latest/`, with
 * build-info.json (what names the release there) copied last.
 */
import fs from 'node:fs';
import { CopyObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';

export interface BucketSettings {
  bucket: string;
  /** An S3-compatible server instead of AWS (AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL). */
  endpoint?: string;
}

export function bucketSettingsFrom(env: NodeJS.ProcessEnv): BucketSettings {
  const endpoint = env['AWS_ENDPOINT_URL_S3'] || env['AWS_ENDPOINT_URL'];
  return { bucket: env['RELEASE_BUCKET'] || 'fractal-ecs-host-service', ...(endpoint ? { endpoint } : {}) };
}

/** Region and credentials come from the SDK's usual chain (AWS_REGION, AWS_ACCESS_KEY_ID, ...). */
export function s3ClientFor(settings: BucketSettings): S3Client {
  // The SDK warns on Node 20 that its releases from 2027 on need Node 22; the lockfile pins this one.
  process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
  return new S3Client({
    ...(settings.endpoint ? { endpoint: settings.endpoint, forcePathStyle: true } : {}),
    // Checksums only where S3 requires them: S3-compatible servers do not all
    // take the SDK's default streamed CRC trailers, and the release carries its own sha256.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

const CONTENT_TYPES: Record<string, string> = {
  '.json': 'application/json',
  '.sha256': 'text/plain',
  '.service': 'text/plain',
};

function contentTypeOf(name: string): string {
  const ext = Object.keys(CONTENT_TYPES).find((e) => name.endsWith(e));
  return ext ? CONTENT_TYPES[ext]! : 'application/octet-stream';
}

export async function uploadRelease(
  client: S3Client,
  bucket: string,
  commit: string,
  files: Map<string, string>,
  log: (line: string) => void,
): Promise<void> {
  for (const [name, file] of files) {
    const key = `${commit}/${name}`;
    await client.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: fs.readFileSync(file),
        ContentType: contentTypeOf(name),
      }),
    );
    log(`uploaded s3://${bucket}/${key} (${fs.statSync(file).size} bytes)`);
  }
}

export async function pointLatestAt(
  client: S3Client,
  bucket: string,
  commit: string,
  names: string[],
  log: (line: string) => void,
): Promise<void> {
  for (const name of names) {
    await client.send(
      new CopyObjectCommand({
        Bucket: bucket,
        Key: `latest/${name}`,
        CopySource: `${bucket}/${commit}/${name}`,
      }),
    );
  }
  log(`s3://${bucket}/latest/ now holds ${commit}`);
}
