/** The three outside parties as real servers on 127.0.0.1, and the service's settings that point at them. */
import { startMetadataStandIn, type MetadataStandIn } from './metadata.js';
import { startSentryStandIn, type SentryStandIn } from './sentry.js';
import { startWebserverStandIn, type WebserverStandIn } from './webserver.js';

export interface StandIns {
  webserver: WebserverStandIn;
  metadata: MetadataStandIn;
  sentry: SentryStandIn;
  /** Environment for the service: webserver, metadata and Sentry all local. */
  env: Record<string, string>;
  close(): Promise<void>;
}

export async function startStandIns(options: { webserverDown?: boolean } = {}): Promise<StandIns> {
  const [webserver, metadata, sentry] = await Promise.all([
    startWebserverStandIn({ down: options.webserverDown }),
    startMetadataStandIn(),
    startSentryStandIn(),
  ]);
  return {
    webserver,
    metadata,
    sentry,
    env: { WEBSERVER_URL: webserver.url, EC2_METADATA_URL: metadata.url, SENTRY_DSN: sentry.dsn },
    close: async () => {
      await Promise.all([webserver.close(), metadata.close(), sentry.close()]);
    },
  };
}

export * from './httpStandIn.js';
export * from './metadata.js';
export * from './sentry.js';
export * from './webserver.js';
