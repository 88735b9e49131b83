/**
 * The host's duties around the container work, as the host and service
 * machines invoke them: find out who this host is, make sure the engine runs,
 * shake hands with the webserver, start the ECS agent, beat, and on the way
 * out tell the world. One instance per process; it keeps what the steps
 * share (the host's identity, the webserver client, the heartbeat counter).
 */
import type { Config } from './config.js';
import type { Docker } from './docker/client.js';
import { startEcsAgent } from './docker/ecsAgent.js';
import { ensureEngineRunning } from './docker/ensureEngine.js';
import { readHostIdentity, type HostIdentity } from './metadata/hostIdentity.js';
import { InstanceMetadataClient, type InstanceMetadata } from './metadata/instanceMetadata.js';
import type { Logger } from './observability/logger.js';
import { WebserverClient } from './webserver/client.js';
import { Heartbeats } from './webserver/heartbeats.js';
import { startLocalWebserver, type LocalWebserver } from './webserver/localStandIn.js';

export interface HostDutiesOptions {
  config: Config;
  logger: Logger;
  docker: Docker;
  /** Called once the host's identity is known (Sentry tags it on every event). */
  onIdentity?: (metadata: InstanceMetadata) => void;
}

export class HostDuties {
  private identity: HostIdentity | undefined;
  private webserver: WebserverClient | undefined;
  private localWebserver: LocalWebserver | undefined;
  private heartbeats: Heartbeats | undefined;
  private readonly metadata: InstanceMetadataClient;

  constructor(private readonly options: HostDutiesOptions) {
    this.metadata = new InstanceMetadataClient(options.config.metadataUrl);
  }

  /** At boot, after the root check: the engine (production), the identity, the webserver. */
  async boot(): Promise<void> {
    const { config, logger, docker } = this.options;
    if (config.appEnv === 'production') {
      await ensureEngineRunning(docker, logger, { engineTimeoutMs: config.engineTimeoutMs });
    }
    this.identity = await readHostIdentity(this.metadata, config.appEnv, logger);
    this.options.onIdentity?.(this.identity.metadata);
    let url = config.webserverUrl;
    if (url === undefined) {
      this.localWebserver = await startLocalWebserver(logger);
      url = this.localWebserver.url;
    }
    this.webserver = new WebserverClient(url);
    this.heartbeats = new Heartbeats(
      this.webserver,
      () => this.identity!.metadata,
      config.heartbeatIntervalMs,
      logger,
    );
  }

  /** One attempt: the host machine retries with backoff and decides when to give up. */
  async handshake(): Promise<{ authToken: string }> {
    const { authToken } = await this.booted().webserver.handshake(
      this.booted().identity.metadata['instance-id'],
    );
    this.options.logger.info({ webserver: this.webserver!.baseUrl }, 'handshake with the webserver done');
    return { authToken };
  }

  async startEcsAgent(): Promise<void> {
    const { config, logger, docker } = this.options;
    if (config.appEnv !== 'production') return;
    await startEcsAgent(
      docker,
      {
        image: config.ecsAgent.image,
        hostRoot: config.ecsAgent.hostRoot,
        engineTimeoutMs: config.engineTimeoutMs,
      },
      logger,
    );
  }

  startHeartbeats(authToken: string): () => void {
    return this.booted().heartbeats.start(authToken);
  }

  /** The last heartbeat of the run. Never throws: the shutdown path goes on regardless. */
  async sendDyingHeartbeat(): Promise<void> {
    if (this.heartbeats === undefined) {
      this.options.logger.warn('no dying heartbeat: the service stopped before it knew its webserver');
      return;
    }
    await this.heartbeats.sendDying();
    await this.localWebserver?.close();
  }

  private booted() {
    if (!this.identity || !this.webserver || !this.heartbeats) throw new Error('the host has not booted');
    return { identity: this.identity, webserver: this.webserver, heartbeats: this.heartbeats };
  }
}
