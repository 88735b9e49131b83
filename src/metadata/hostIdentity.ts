/**
 * Who this host is, read once at boot: the instance metadata, or in
 * development off EC2 local values, labelled as such in the log.
 */
import type { AppEnv } from '../config.js';
import type { Logger } from '../observability/logger.js';
import { localMetadata, type InstanceMetadata, type InstanceMetadataClient } from './instanceMetadata.js';
import { errorMessage } from '../../machines/shared.js';

export interface HostIdentity {
  metadata: InstanceMetadata;
  /** `ec2` when the values came from the metadata service. */
  source: 'ec2' | 'local-fallback';
}

export async function readHostIdentity(
  client: InstanceMetadataClient,
  appEnv: AppEnv,
  logger: Logger,
): Promise<HostIdentity> {
  try {
    const metadata = await client.getAll();
    logger.info({ metadata }, 'instance metadata read');
    return { metadata, source: 'ec2' };
  } catch (error) {
    if (appEnv !== 'development') {
      throw new Error(
        `instance metadata is unavailable, and ${appEnv} runs only on EC2: ${errorMessage(error)}`,
        { cause: error },
      );
    }
    const metadata = localMetadata();
    logger.warn(
      { metadata, source: 'local-fallback', reason: errorMessage(error) },
      'instance metadata unavailable (not on EC2?): using LOCAL DEVELOPMENT VALUES instead',
    );
    return { metadata, source: 'local-fallback' };
  }
}
