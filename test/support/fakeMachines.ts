/**
 * The real host and container machines with instant fakes for every outside
 * duty, for unit tests and `bench/machines.bench.ts`: files written at once,
 * the webserver and heartbeats silent, the engine's events from a subject the
 * caller drives. A caller gives what its case is about (the inspection, and
 * any actor or action to replace) and keeps the rest.
 */
import type { Observable } from 'rxjs';
import { fromCallback, fromEventObservable, fromPromise } from 'xstate';
import { containerIoActions, containerMachine } from '../../machines/container/machine.js';
import type { ContainerInspection, DockerObservation, FolderRecord } from '../../machines/events.js';
import { hostMachine } from '../../machines/host/machine.js';
import { inspectWith } from './inspection.js';

type ContainerProvided = Parameters<typeof containerMachine.provide>[0];
type HostProvided = Parameters<typeof hostMachine.provide>[0];

/** The container machine: the given inspection; start files, DPI and clean-up done at once. */
export function fakeContainerMachine(
  inspect: (input: { containerId: string }) => Promise<ContainerInspection>,
  replace: ContainerProvided = {},
) {
  return containerMachine.provide({
    ...replace,
    actions: {
      ...containerIoActions({
        inspectContainer: inspectWith(inspect),
        writeStartFiles: async () => {},
        writeDpi: async () => {},
        cleanUpContainer: async () => {},
      }),
      ...replace.actions,
    },
  });
}

/** The host machine over `container`: no folders to adopt, a handshake at once, the engine's events from `events`. */
export function fakeHostMachine(
  container: ReturnType<typeof fakeContainerMachine>,
  events: Observable<DockerObservation>,
  replace: HostProvided = {},
) {
  return hostMachine.provide({
    ...replace,
    actors: {
      container,
      prepareHost: fromPromise(async () => ({ folders: [] as FolderRecord[] })),
      handshake: fromPromise(async () => ({ authToken: 'token' })),
      dockerEvents: fromEventObservable(() => events),
      apiServer: fromCallback(() => {}),
      heartbeats: fromCallback(() => {}),
      ...replace.actors,
    },
  });
}
