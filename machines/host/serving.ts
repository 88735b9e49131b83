/**
 * `serving`: three regions side by side. `engine` follows the Docker event
 * stream's connection (it reconnects by itself; a loss is reported once),
 * `api` runs the HTTPS server, `heartbeats` beats with the handshake's token.
 * The engine's observations, the containers' claims (with their
 * inspections' verdicts) and the API's requests are handled here only; what
 * must go on while stopping (releases and removals, and verdicts without a
 * claim) is handled on the machine's root. Answers to requests do not pass
 * through the host: whoever answers sends to `apiServer` by its system id.
 */
import { API_SERVER_SYSTEM_ID } from '../shared.js';
import { hostSetup } from './setup.js';

const reportEngineLost = {
  type: 'reportError',
  params: ({ event }: { event: { reason: string } }) => ({
    message: `the Docker engine is unreachable: ${event.reason}`,
  }),
} as const;

export const serving = hostSetup.createStateConfig({
  type: 'parallel',
  on: {
    'docker.start': { actions: { type: 'trackStart', params: ({ event }) => event } },
    'docker.die': { actions: { type: 'trackDeath', params: ({ event }) => event } },
    'docker.listed': { actions: { type: 'reconcileWithList', params: ({ event }) => event } },
    'container.inspected': { actions: { type: 'answerInspection', params: ({ event }) => event } },
    'api.request': { actions: { type: 'routeRequest', params: ({ event }) => event } },
    'api.request.expired': { actions: { type: 'expireRequest', params: ({ event }) => event } },
  },
  states: {
    engine: {
      invoke: { id: 'dockerEvents', src: 'dockerEvents' },
      initial: 'connecting',
      states: {
        connecting: {
          on: { 'docker.disconnected': { target: 'disconnected', actions: reportEngineLost } },
        },
        connected: {
          on: { 'docker.disconnected': { target: 'disconnected', actions: reportEngineLost } },
        },
        // Reported once when lost; each further failed attempt is only logged.
        disconnected: {
          on: {
            'docker.disconnected': {
              actions: {
                type: 'logStep',
                params: ({ event }) => ({ message: `engine still unreachable: ${event.reason}` }),
              },
            },
          },
        },
      },
      on: {
        'docker.connected': {
          target: '.connected',
          actions: { type: 'logStep', params: { message: 'engine connected' } },
        },
      },
    },
    api: {
      initial: 'listening',
      // Found by its system id: whoever answers a request answers the server directly (machines/shared.ts).
      states: {
        listening: { invoke: { id: 'apiServer', systemId: API_SERVER_SYSTEM_ID, src: 'apiServer' } },
      },
    },
    heartbeats: {
      initial: 'beating',
      states: {
        beating: {
          invoke: {
            id: 'heartbeats',
            src: 'heartbeats',
            input: ({ context }) => ({ authToken: context.authToken! }),
          },
        },
      },
    },
  },
});
