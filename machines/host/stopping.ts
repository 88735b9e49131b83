/**
 * `stopping`: a stop is no worse than a crash. The engine is asked which
 * containers still run; those are let go (`host.leaving`), the others are
 * drained as dead, and the host stops when no container is left, or after
 * the drain timeout. When the engine does not answer, every container is let
 * go: a later start sorts out what died, while deleting what may be live
 * cannot be undone.
 */
import { errorMessage } from '../shared.js';
import { hostSetup } from './setup.js';

export const stopping = hostSetup.createStateConfig({
  entry: 'answerPendingRequests',
  initial: 'askingEngine',
  states: {
    askingEngine: {
      always: { guard: 'noContainersLeft', target: '#host.stopped' },
      invoke: {
        src: 'listRunningContainers',
        onDone: {
          target: 'lettingGo',
          actions: {
            type: 'letGoOfContainers',
            params: ({ event }) => ({
              running: event.output.running,
              listedAtMs: event.output.listedAtMs,
            }),
          },
        },
        onError: {
          target: 'lettingGo',
          actions: [
            {
              type: 'logWarning',
              params: ({ event }) => ({
                message: `the engine did not say which containers run (${errorMessage(event.error)}); every folder, TTY and mount is kept`,
              }),
            },
            { type: 'letGoOfContainers', params: { running: undefined, listedAtMs: 0 } },
          ],
        },
      },
    },
    // Running ones detach at once (after a write in flight); dead ones drain.
    lettingGo: {
      always: { guard: 'noContainersLeft', target: '#host.stopped' },
    },
  },
  after: {
    drainTimeout: {
      target: 'stopped',
      actions: {
        type: 'reportError',
        params: ({ context }) => ({
          message: `draining timed out with ${context.containers.size} containers left`,
        }),
      },
    },
  },
});
