/**
 * `make release`, after `make build-prod`: publishes build/ecs-host-service.
 *
 *   1. checksums and build-info.json next to the artifact
 *   2. every object to s3://$RELEASE_BUCKET/<commit>/
 *   3. the Sentry release for the commit, with the source map
 *   4. s3://$RELEASE_BUCKET/latest/ to this release (only after 2 and 3 worked)
 *   5. the Sentry deploy for $SENTRY_ENVIRONMENT
 *
 * Any failure stops the run with exit code 1 before `latest/` moves, so hosts
 * keep installing the previous release. Settings: RELEASE_BUCKET, AWS_* (the
 * SDK's usual names, AWS_ENDPOINT_URL for an S3-compatible server), SENTRY_URL,
 * SENTRY_ORG, SENTRY_PROJECT, SENTRY_AUTH_TOKEN, SENTRY_ENVIRONMENT, BUILD_DIR.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { prepareRelease } from './artifact.js';
import { bucketSettingsFrom, pointLatestAt, s3ClientFor, uploadRelease } from './s3.js';
import { createSentryRelease, markDeployed, sentrySettingsFrom } from './sentry.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const log = (line: string) => process.stdout.write(`release: ${line}\n`);
const isCi = ['1', 'true', 'yes'].includes((process.env['CI'] ?? '').toLowerCase());

let latestMoved = false;

async function release(): Promise<void> {
  const started = Date.now();
  const sentry = sentrySettingsFrom(process.env);
  const bucket = bucketSettingsFrom(process.env);
  const buildDir = path.resolve(root, process.env['BUILD_DIR'] || 'build');
  const prepared = prepareRelease(buildDir, path.join(root, 'deploy/ecs-host-service.service'));
  const { commit } = prepared.buildInfo;
  if (isCi && !/^[0-9a-f]{40}$/.test(commit)) {
    throw new Error(`refusing to publish "${commit}" from CI: a release is a clean commit`);
  }
  log(`publishing ${commit} (${prepared.buildInfo.size} bytes) to s3://${bucket.bucket}/`);
  const s3 = s3ClientFor(bucket);
  await uploadRelease(s3, bucket.bucket, commit, prepared.files, log);
  await createSentryRelease(sentry, commit, { code: prepared.bundle, map: prepared.sourceMap }, log);
  await pointLatestAt(s3, bucket.bucket, commit, [...prepared.files.keys()], log);
  latestMoved = true;
  await markDeployed(sentry, commit, log);
  log(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

release().catch((error: unknown) => {
  const where = latestMoved ? 'after latest/ moved' : 'latest/ still names the previous release';
  process.stderr.write(
    `release: failed (${where}): ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(1);
});
