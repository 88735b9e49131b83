/**
 * `handshaking`: no container is accepted before the webserver knows this
 * host, so serving comes after. Each failed attempt waits twice as long as
 * the one before (capped); the host gives up, fatally, after the handshake
 * timeout.
 */
import { assign } from 'xstate';
import { errorMessage } from '../shared.js';
import { hostSetup } from './setup.js';

export const handshaking = hostSetup.createStateConfig({
  initial: 'attempting',
  after: {
    handshakeTimeout: {
      target: 'stopping',
      actions: assign({
        stopReason: ({ context }) => ({
          fatal: true,
          message: `handshake failed ${context.handshakeFailures} times, giving up: ${context.lastHandshakeError ?? 'no answer'}`,
        }),
      }),
    },
  },
  states: {
    attempting: {
      invoke: {
        src: 'handshake',
        onDone: {
          target: '#host.startingAgent',
          actions: assign({ authToken: ({ event }) => event.output.authToken }),
        },
        onError: {
          target: 'waiting',
          actions: [
            assign({
              handshakeFailures: ({ context }) => context.handshakeFailures + 1,
              lastHandshakeError: ({ event }) => errorMessage(event.error),
            }),
            {
              type: 'logWarning',
              params: ({ context }) => ({
                message: `handshake attempt ${context.handshakeFailures} failed, retrying: ${context.lastHandshakeError}`,
              }),
            },
          ],
        },
      },
    },
    waiting: { after: { handshakeBackoff: 'attempting' } },
  },
});
