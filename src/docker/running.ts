import type Docker from 'dockerode';
import { firstValueFrom, timeout } from 'rxjs';
import { engineSourceOf } from './events.js';

/** The ids of the containers the engine says are running; rejects when it does not answer in time. */
export async function runningContainerIds(docker: Docker, timeoutMs: number): Promise<string[]> {
  // The same listing the event stream re-lists with; unsubscribing at the deadline abandons the call.
  const running = await firstValueFrom(engineSourceOf(docker).listRunning().pipe(timeout(timeoutMs)));
  return running.map((c) => c.containerId);
}
