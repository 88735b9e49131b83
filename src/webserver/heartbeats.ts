/**
 * Heartbeats: the first when serving starts, then one every interval ±1/12
 * (55–65 s for the default minute) so that hosts do not beat in waves. A
 * failed heartbeat is logged and the next one is sent as planned. The last
 * heartbeat of a run is the dying one, sent on the shutdown path.
 */
import type { Logger } from '../observability/logger.js';
import type { InstanceMetadata } from '../metadata/instanceMetadata.js';
import { readMemoryFigures } from '../metadata/memory.js';
import type { HeartbeatBody, WebserverClient } from './client.js';
import { errorMessage } from '../../machines/shared.js';

/** A delay drawn uniformly from [mean - mean/12, mean + mean/12]. */
export function jitteredInterval(meanMs: number, random: () => number = Math.random): number {
  const spread = meanMs / 12;
  return Math.round(meanMs - spread + random() * 2 * spread);
}

export class Heartbeats {
  private nextNumber = 0;
  private authToken: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private dyingSent = false;

  constructor(
    private readonly client: WebserverClient,
    private readonly identity: () => InstanceMetadata,
    private readonly intervalMs: number,
    private readonly logger: Logger,
  ) {}

  /** Starts beating with the token of the handshake; returns what stops it. */
  start(authToken: string): () => void {
    this.authToken = authToken;
    const beat = () => {
      void this.send(false);
      this.timer = setTimeout(beat, jitteredInterval(this.intervalMs));
    };
    beat();
    return () => {
      if (this.timer !== undefined) clearTimeout(this.timer);
      this.timer = undefined;
    };
  }

  /** The death notice. Without a handshake there is no token, so nobody to tell. */
  async sendDying(): Promise<void> {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.authToken === undefined) {
      this.logger.warn('no dying heartbeat: the handshake never succeeded');
      return;
    }
    if (this.dyingSent) return;
    this.dyingSent = true;
    await this.send(true);
  }

  private async send(dying: boolean): Promise<void> {
    const number = this.nextNumber++;
    try {
      const memory = await readMemoryFigures();
      const metadata = this.identity();
      const body: HeartbeatBody = {
        AuthToken: this.authToken!,
        Timestamp: new Date().toISOString(),
        HeartbeatNumber: number,
        InstanceID: metadata['instance-id'],
        InstanceType: metadata['instance-type'],
        TotalRAMinKB: memory.totalKb,
        FreeRAMinKB: memory.freeKb,
        AvailRAMinKB: memory.availableKb,
        IsDyingHeartbeat: dying,
      };
      await this.client.heartbeat(body);
      this.logger.debug({ heartbeatNumber: number, dying }, 'heartbeat sent');
    } catch (error) {
      this.logger.warn({ heartbeatNumber: number, dying, reason: errorMessage(error) }, 'heartbeat failed');
    }
  }
}
