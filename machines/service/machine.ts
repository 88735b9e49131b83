/**
 * The top level: runs the host, and on any reason to stop (a signal, a fatal
 * error, the host giving up) goes once through the one shutdown path:
 *
 *   running (active → stopping) → notifying → exited
 *
 * `notifying` is where the world is told (Sentry flushed, the dying heartbeat
 * sent, the folders removed); src/ supplies it as `notifyDeath`.
 */
import { assign, fromPromise, sendTo, setup } from 'xstate';
import { hostMachine, type HostInput, type HostMachineLogic, type StopReason } from '../host/machine.js';
import { errorMessage, notProvided, type MachineVoice } from '../shared.js';

export interface ServiceInput {
  host: HostInput;
}

export interface ServiceContext {
  host: HostInput;
  stopReason: StopReason | undefined;
  leftoverContainers: string[];
}

export type ServiceEvent = { type: 'service.stop'; reason: StopReason };

export interface ServiceOutput {
  exitCode: number;
  stopReason: StopReason;
}

export const EXIT_OK = 0;
export const EXIT_FATAL = 1;

export const serviceMachine = setup({
  types: {
    context: {} as ServiceContext,
    events: {} as ServiceEvent,
    input: {} as ServiceInput,
    output: {} as ServiceOutput,
  },
  actors: {
    host: hostMachine,
    notifyDeath: fromPromise<void, { stopReason: StopReason; leftoverContainers: string[] }>(
      notProvided('notifyDeath'),
    ),
  },
  actions: {
    reportError: (_, _params: { message: string }) => {},
    logStep: (_, _params: { message: string }) => {},
  },
}).createMachine({
  id: 'service',
  context: ({ input }) => ({ host: input.host, stopReason: undefined, leftoverContainers: [] }),
  initial: 'running',
  states: {
    running: {
      invoke: {
        id: 'host',
        src: 'host',
        input: ({ context }) => context.host,
        onDone: {
          target: 'notifying',
          actions: assign(({ context, event }) => ({
            // The first reason wins: a signal that started the drain is not replaced by the host's own account.
            stopReason: context.stopReason ?? event.output.stopReason,
            leftoverContainers: event.output.leftoverContainers,
          })),
        },
        onError: {
          target: 'notifying',
          actions: assign({
            stopReason: ({ event }) => ({
              fatal: true,
              message: `the host failed: ${errorMessage(event.error)}`,
            }),
          }),
        },
      },
      initial: 'active',
      states: {
        active: {
          on: {
            'service.stop': {
              target: 'stopping',
              actions: [
                assign({ stopReason: ({ event }) => event.reason }),
                {
                  type: 'logStep',
                  params: ({ event }) => ({ message: `stopping: ${event.reason.message}` }),
                },
                sendTo('host', ({ event }) => ({ type: 'host.stop' as const, reason: event.reason })),
              ],
            },
          },
        },
        // A second signal or error during shutdown does not start a second shutdown.
        stopping: {
          on: {
            'service.stop': {
              actions: {
                type: 'logStep',
                params: ({ event }) => ({ message: `already stopping; ignored: ${event.reason.message}` }),
              },
            },
          },
        },
      },
    },
    notifying: {
      invoke: {
        src: 'notifyDeath',
        input: ({ context }) => ({
          stopReason: context.stopReason ?? { fatal: false, message: 'stopped' },
          leftoverContainers: context.leftoverContainers,
        }),
        onDone: 'exited',
        onError: {
          target: 'exited',
          actions: {
            type: 'reportError',
            params: ({ event }) => ({
              message: `the shutdown notifications failed: ${errorMessage(event.error)}`,
            }),
          },
        },
      },
    },
    exited: { type: 'final' },
  },
  output: ({ context }) => {
    const stopReason = context.stopReason ?? { fatal: false, message: 'stopped' };
    return { exitCode: stopReason.fatal ? EXIT_FATAL : EXIT_OK, stopReason };
  },
});

/** Everything the service machine asks of the outside world: src/ supplies each one, or it does not compile. */
export interface ServiceImplementations {
  host: HostMachineLogic;
  /** The shutdown path's notices: Sentry flushed, the dying heartbeat sent, the private folder removed. */
  notifyDeath(input: { stopReason: StopReason; leftoverContainers: string[] }): Promise<void>;
  voice: Omit<MachineVoice<ServiceContext>, 'logWarning'>;
}

export function serviceMachineWith(impl: ServiceImplementations) {
  return serviceMachine.provide({
    actors: {
      host: impl.host,
      notifyDeath: fromPromise(({ input }) => impl.notifyDeath(input)),
    },
    actions: {
      reportError: ({ context }, params) => impl.voice.reportError(context, params.message),
      logStep: ({ context }, params) => impl.voice.logStep(context, params.message),
    },
  });
}
