/**
 * Sentry, when the contract turns it on (production, or USE_PROD_SENTRY).
 *
 * Packaging: the lightweight mode of the Node SDK (`@sentry/node-core/light`),
 * which has no OpenTelemetry. The full `@sentry/node` loads its
 * auto-instrumentation at import and costs about 52 MB of resident memory in
 * our bundle; the light client costs about 17 MB (see README). We only send
 * errors, so tracing would buy nothing.
 *
 * Integrations are chosen, not defaulted: no global handlers (main.ts owns
 * uncaught exceptions and unhandled rejections and sends them down the one
 * shutdown path; Sentry's own handler would keep the process alive in its
 * default mode), no console or HTTP breadcrumbs (informational logs are not
 * sent), no sessions.
 *
 * Nothing here may run an AsyncLocalStorage (`withScope`, the SDK's own
 * transport): on Node 20 that leaves async hooks on for good, and every
 * promise, timer and socket of the process pays for them (./sentryTransport.ts).
 */
import * as Sentry from '@sentry/node-core/light';
import type { InstanceMetadata } from '../metadata/instanceMetadata.js';
import type { ErrorReporter } from './reporter.js';
import { makeSentryTransport } from './sentryTransport.js';

export interface SentryOptions {
  dsn: string;
  release: string;
  environment: string;
}

export function createSentryReporter(options: SentryOptions): ErrorReporter & {
  tagHost(metadata: InstanceMetadata): void;
} {
  Sentry.init({
    dsn: options.dsn,
    release: options.release,
    environment: options.environment,
    defaultIntegrations: false,
    integrations: [
      Sentry.eventFiltersIntegration(),
      Sentry.functionToStringIntegration(),
      Sentry.linkedErrorsIntegration(),
      Sentry.contextLinesIntegration(),
      // Not the culture context: a host's locale says nothing, and reading it maps about 6 MB of ICU data into every host service.
      Sentry.nodeContextIntegration({ culture: false }),
    ],
    sendDefaultPii: false,
    transport: makeSentryTransport,
  });
  return {
    report(error, context) {
      // The container's context and tags go with the event itself, not through
      // `Sentry.withScope`, which runs an AsyncLocalStorage (see above).
      const about = Object.fromEntries(Object.entries(context).filter(([, v]) => v !== undefined));
      const tags: Record<string, string> = {};
      if (context['containerId'] !== undefined) tags['containerId'] = String(context['containerId']);
      if (context['hostPort'] !== undefined) tags['hostPort'] = String(context['hostPort']);
      Sentry.captureException(error, {
        tags,
        ...(Object.keys(about).length > 0 && { contexts: { container: about } }),
      });
    },
    flush: (timeoutMs) => Sentry.flush(timeoutMs),
    tagHost(metadata) {
      Sentry.setTags({
        'aws.ami-id': metadata['ami-id'],
        'aws.ami-launch-index': metadata['ami-launch-index'],
        'aws.instance-id': metadata['instance-id'],
        'aws.instance-type': metadata['instance-type'],
        'aws.placement-region': metadata['placement/region'],
        'aws.public-ipv4': metadata['public-ipv4'],
      });
    },
  };
}
