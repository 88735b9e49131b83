/**
 * What the service says to the webserver: the handshake at start, and
 * heartbeats (PROTOCOL §6). Field names are the webserver's.
 */
import axios, { type AxiosInstance } from 'axios';
import { errorMessage } from '../../machines/shared.js';

export const REQUEST_TIMEOUT_MS = 10_000;

export interface HeartbeatBody {
  AuthToken: string;
  Timestamp: string;
  HeartbeatNumber: number;
  InstanceID: string;
  InstanceType: string;
  TotalRAMinKB: string;
  FreeRAMinKB: string;
  AvailRAMinKB: string;
  IsDyingHeartbeat: boolean;
}

export class WebserverClient {
  private readonly http: AxiosInstance;

  constructor(readonly baseUrl: string) {
    this.http = axios.create({
      baseURL: baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`,
      timeout: REQUEST_TIMEOUT_MS,
      headers: { 'Content-Type': 'application/json' },
    });
  }

  /** One attempt; the host machine decides about retries. */
  async handshake(instanceId: string): Promise<{ authToken: string }> {
    try {
      const response = await this.http.post<{ AuthToken?: unknown }>('host_service/auth', {
        InstanceID: instanceId,
      });
      const token = response.data?.AuthToken;
      if (typeof token !== 'string' || token === '') {
        throw new Error('the webserver answered the handshake without an AuthToken');
      }
      return { authToken: token };
    } catch (error) {
      throw new Error(`handshake with ${this.baseUrl}: ${describeHttpError(error)}`, { cause: error });
    }
  }

  async heartbeat(body: HeartbeatBody): Promise<void> {
    try {
      await this.http.post('host_service/heartbeat', body);
    } catch (error) {
      throw new Error(`heartbeat ${body.HeartbeatNumber}: ${describeHttpError(error)}`, { cause: error });
    }
  }
}

export function describeHttpError(error: unknown): string {
  if (axios.isAxiosError(error)) {
    if (error.response) return `HTTP ${error.response.status}`;
    if (error.code === 'ECONNABORTED' || error.code === 'ETIMEDOUT') return 'no answer in time';
    return error.code ?? error.message;
  }
  return errorMessage(error);
}
