/**
 * `requested`: from the engine's start to a container with its folder, host
 * port and TTY. It is inspected (again, with backoff, for as long as the
 * engine fails); the verdict comes back through the host with the answer to
 * its claim on a TTY, or it waits in `claiming` for that answer when the
 * claim must wait; then it writes its start files,
 * unless its files from an earlier run are already right. Whatever is not a
 * streaming container, or cannot be set up, goes to `draining` (or straight
 * to `removed`, for the ECS agent).
 */
import { assign } from 'xstate';
import { errorMessage } from '../shared.js';
import { containerSetup } from './setup.js';
import {
  INSPECTION_FAILURES_REPORTED,
  type ContainerContext,
  type ContainerEvent,
  type GrantFacts,
} from './types.js';

type InspectionDone = Extract<ContainerEvent, { type: 'inspection.done' }>;
type Granted = Extract<ContainerEvent, { type: 'resources.granted' }>;
type Denied = Extract<ContainerEvent, { type: 'resources.denied' }>;

/** The grant that came with a ready verdict, if the host granted one. */
const grantOnInspection = ({ event }: { event: InspectionDone }): GrantFacts | undefined =>
  event.verdict.kind === 'ready' && event.claim?.type === 'resources.granted'
    ? { tty: event.claim.tty, hostPort: event.verdict.hostPort, verdict: event.verdict }
    : undefined;

/** A grant that came on its own, after the claim waited: the verdict is taken already. */
const grantAfterWait = ({ context, event }: { context: ContainerContext; event: Granted }): GrantFacts => ({
  tty: event.tty,
  hostPort: context.hostPort!,
});

/** Why the host refused the claim it decided with a ready verdict, if it refused it. */
const denialOnInspection = ({ event }: { event: InspectionDone }): string | undefined =>
  event.verdict.kind === 'ready' && event.claim?.type === 'resources.denied' ? event.claim.reason : undefined;

/** What a refused claim does, whether the refusal came with the verdict or after a wait: kept and reported. */
function deniedThen<Args>(reason: (args: Args) => string | undefined) {
  return [
    { type: 'takeDenial', params: reason },
    {
      type: 'reportError',
      params: ({ context }: { context: ContainerContext }) => ({ message: context.error ?? '' }),
    },
  ] as const;
}

/**
 * Where a grant leads, the same whether it came with the verdict or after a
 * wait: `facts` reads it from the event (undefined: none was granted).
 */
function grantedThen<Args>(facts: (args: Args) => GrantFacts | undefined) {
  const take = { type: 'takeGrant', params: facts } as const;
  return [
    {
      // Two folders of an earlier run claimed the same TTY and this one lost it.
      guard: { type: 'lostAdoptedTty', params: facts },
      target: 'writingFiles',
      actions: [
        take,
        {
          type: 'reportError',
          params: ({ context }: { context: ContainerContext }) => ({
            message: `TTY ${context.adopted?.tty} is held by another container; moved to TTY ${context.tty}`,
          }),
        },
      ],
    },
    // Adopted with its files already right: nothing to rewrite, so a restart costs no fsyncs.
    {
      guard: { type: 'adoptedFilesAndDpiCurrent', params: facts },
      target: '#container.running',
      actions: [take, 'takeAdoptedDpi'],
    },
    {
      guard: { type: 'adoptedFilesCurrent', params: facts },
      target: '#container.ttyAssigned',
      actions: take,
    },
    { guard: { type: 'isGranted', params: facts }, target: 'writingFiles', actions: take },
  ] as const;
}

export const requested = containerSetup.createStateConfig({
  initial: 'inspecting',
  states: {
    inspecting: {
      entry: 'inspectContainer',
      on: {
        'inspection.done': [
          {
            guard: {
              type: 'inspectionSays',
              params: ({ event }) => ({ verdict: event.verdict, kind: 'ignored' as const }),
            },
            target: '#container.removed',
            actions: {
              type: 'logStep',
              params: { message: 'the ECS agent container is not ours; ignored' },
            },
          },
          {
            // Gone before it was set up, or (adopted) gone while the service was down: clean up what is there.
            guard: {
              type: 'inspectionSays',
              params: ({ event }) => ({ verdict: event.verdict, kind: 'notRunning' as const }),
            },
            target: '#container.draining',
            actions: [
              assign({ ended: true }),
              { type: 'logStep', params: { message: 'the container is not running; cleaning up' } },
            ],
          },
          // Ready, and the host decided the claim with the verdict (machines/host/setup.ts, `answerInspection`).
          ...grantedThen(grantOnInspection),
          {
            guard: { type: 'isDenied', params: denialOnInspection },
            target: '#container.draining',
            actions: [
              { type: 'takeVerdict', params: ({ event }) => event },
              ...deniedThen(denialOnInspection),
            ],
          },
          {
            // The claim waits for a TTY or host port that a dead container gives back, or the host is stopping.
            guard: {
              type: 'inspectionSays',
              params: ({ event }) => ({ verdict: event.verdict, kind: 'ready' as const }),
            },
            target: 'claiming',
            actions: { type: 'takeVerdict', params: ({ event }) => event },
          },
          {
            target: '#container.draining',
            actions: [
              assign(({ event }) =>
                event.verdict.kind === 'unusable'
                  ? { name: event.verdict.name, error: event.verdict.reason }
                  : {},
              ),
              // A build container or another service on the host: not ours, nothing is wrong.
              {
                type: 'logWarning',
                params: ({ context }) => ({
                  message: `not a streaming container: ${context.error ?? ''}`,
                }),
              },
            ],
          },
        ],
        // Never a reason to give the container up (./types.ts): wait, and ask again.
        'inspection.failed': [
          {
            guard: 'reportsThisInspectionFailure',
            target: 'waitingToInspectAgain',
            actions: [
              assign({
                inspectionFailures: ({ context }) => context.inspectionFailures + 1,
                // Shown in the state snapshot (`make status`) while the container waits for the engine.
                error: ({ event }) =>
                  `inspection failed ${INSPECTION_FAILURES_REPORTED} times in a row, trying again until the engine answers: ${errorMessage(event.error)}`,
              }),
              { type: 'reportError', params: ({ context }) => ({ message: context.error ?? '' }) },
            ],
          },
          {
            // Reported already: an engine that stays away is the host's to report, not one line per try.
            guard: 'inspectionFailuresReported',
            target: 'waitingToInspectAgain',
            actions: assign({ inspectionFailures: ({ context }) => context.inspectionFailures + 1 }),
          },
          {
            target: 'waitingToInspectAgain',
            actions: [
              assign({ inspectionFailures: ({ context }) => context.inspectionFailures + 1 }),
              {
                type: 'logStep',
                params: ({ event }) => ({
                  message: `inspection failed, trying again: ${errorMessage(event.error)}`,
                }),
              },
            ],
          },
        ],
      },
    },
    waitingToInspectAgain: {
      after: { inspectionRetry: 'inspecting' },
    },
    // The host's answer comes on its own once what the claim waits for is given back.
    claiming: {
      on: {
        'resources.granted': grantedThen(grantAfterWait),
        'resources.denied': {
          target: '#container.draining',
          actions: deniedThen(({ event }: { event: Denied }) => event.reason),
        },
      },
    },
    // Granted: the host sends requests for its host port from now on. A DPI waits for the folder
    // (ttyAssigned or running takes it from the queue); a mount starts at once (./setup.ts).
    writingFiles: {
      entry: 'writeStartFiles',
      on: {
        'host.leaving': { actions: 'markLeaving' },
        'dpi.set': { actions: { type: 'queueDpi', params: ({ event }) => event } },
        'startFiles.written': [
          { guard: 'leaving', target: '#container.detaching' },
          // An adopted container that had its DPI keeps running as it was.
          {
            guard: 'hadDpi',
            target: '#container.running',
            actions: 'takeAdoptedDpi',
          },
          { target: '#container.ttyAssigned' },
        ],
        // A failed write is drained whatever happens next: the folder is incomplete.
        'startFiles.failed': {
          target: '#container.draining',
          actions: [
            assign({
              error: ({ event }) => `writing the start files failed: ${errorMessage(event.error)}`,
            }),
            { type: 'reportError', params: ({ context }) => ({ message: context.error ?? '' }) },
          ],
        },
      },
    },
  },
});
