/**
 * Production hosts own their engine: when it does not answer at boot, start
 * it through systemd (as the fleet always did) and wait until it answers.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type Docker from 'dockerode';
import type { Logger } from '../observability/logger.js';

const run = promisify(execFile);

async function answers(docker: Docker, timeoutMs: number): Promise<boolean> {
  try {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('ping timed out')), timeoutMs);
    });
    try {
      await Promise.race([docker.ping(), timeout]);
    } finally {
      clearTimeout(timer);
    }
    return true;
  } catch {
    return false;
  }
}

export async function ensureEngineRunning(
  docker: Docker,
  logger: Logger,
  options: { engineTimeoutMs: number; startTimeoutMs?: number },
): Promise<void> {
  if (await answers(docker, options.engineTimeoutMs)) return;
  logger.warn('the Docker engine does not answer: starting it with systemctl');
  await run('systemctl', ['start', 'docker'], { timeout: options.startTimeoutMs ?? 60_000 });
  const until = Date.now() + (options.startTimeoutMs ?? 60_000);
  while (!(await answers(docker, 2000))) {
    if (Date.now() > until)
      throw new Error('the Docker engine still does not answer after systemctl start docker');
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  logger.info('started the Docker engine');
}
