/**
 * `draining`: a container that died, or could not be set up, gives
 * everything back. Its mounts unmount first, then its folder goes, and only
 * then its TTY and host port: it ends `removed` when it died, `rejected`
 * (holding nothing) when it still runs. The TTY and host port go back when
 * the host hears that end (the actor's done event), or with
 * `resources.release` on the way to `rejected`: one event to the host either
 * way, never before the folder is gone, so no newcomer meets stale files.
 */
import { assign } from 'xstate';
import { errorMessage } from '../shared.js';
import { containerSetup } from './setup.js';

export const draining = containerSetup.createStateConfig({
  entry: ['announceDraining', { type: 'answerInterruptedRequest', params: { why: 'it is going away' } }],
  initial: 'unmounting',
  states: {
    // Each mount unmounts and removes its folder; each one's `mount.gone` shrinks the list.
    unmounting: {
      entry: 'stopMounts',
      always: { guard: 'noMountsLeft', target: 'cleaningUp' },
    },
    cleaningUp: {
      entry: 'cleanUpContainer',
      on: {
        'cleanUp.done': [
          {
            guard: 'ended',
            target: '#container.removed',
            actions: {
              type: 'logStep',
              params: {
                message: 'container gone: its folder is removed, its TTY and host port released',
              },
            },
          },
          { target: '#container.rejected', actions: 'releaseResources' },
        ],
        'cleanUp.failed': [
          {
            guard: 'ended',
            target: '#container.removed',
            actions: {
              type: 'reportError',
              params: ({ event }) => ({ message: `clean-up incomplete: ${errorMessage(event.error)}` }),
            },
          },
          {
            target: '#container.rejected',
            actions: [
              {
                type: 'reportError',
                params: ({ event }) => ({ message: `clean-up incomplete: ${errorMessage(event.error)}` }),
              },
              'releaseResources',
            ],
          },
        ],
      },
    },
  },
  on: {
    // Already draining: a die or a stop of the service only changes where we go next.
    'container.died': { actions: assign({ ended: true }) },
    'host.leaving': { actions: 'markLeaving' },
  },
});
