/**
 * The EC2 instance metadata service, IMDSv2: a session token first (PUT),
 * then each value with the token in a header. Every call has a 1 s deadline.
 * Answers are cached for the life of the process; failures are not, so a
 * later call tries again.
 */
import os from 'node:os';
import axios, { type AxiosInstance } from 'axios';

export const METADATA_KEYS = [
  'instance-id',
  'instance-type',
  'ami-id',
  'ami-launch-index',
  'placement/region',
  'public-ipv4',
] as const;
export type MetadataKey = (typeof METADATA_KEYS)[number];
export type InstanceMetadata = Record<MetadataKey, string>;

const CALL_TIMEOUT_MS = 1000;
const TOKEN_TTL_S = 21_600;
/** Renew the session token well before the service says it expires. */
const TOKEN_RENEW_MS = (TOKEN_TTL_S / 2) * 1000;

export class MetadataUnavailable extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MetadataUnavailable';
  }
}

export class InstanceMetadataClient {
  private readonly http: AxiosInstance;
  private readonly cache = new Map<MetadataKey, string>();
  private token: { value: string | undefined; fetchedAt: number } | undefined;
  /** One token request at a time, shared by the calls that wait for it. */
  private pendingToken: Promise<string | undefined> | undefined;

  /** `baseUrl` is the service's root, e.g. http://169.254.169.254 */
  constructor(baseUrl: string) {
    this.http = axios.create({
      baseURL: new URL('/latest/', baseUrl).toString(),
      timeout: CALL_TIMEOUT_MS,
      responseType: 'text',
      // Link-local: a proxy from the environment must never be used for it.
      proxy: false,
    });
  }

  async get(key: MetadataKey): Promise<string> {
    const cached = this.cache.get(key);
    if (cached !== undefined) return cached;
    const token = await this.sessionToken();
    try {
      const response = await this.http.get<string>(`meta-data/${key}`, {
        headers: token === undefined ? {} : { 'X-aws-ec2-metadata-token': token },
      });
      const value = String(response.data).trim();
      this.cache.set(key, value);
      return value;
    } catch (error) {
      if (axios.isAxiosError(error) && error.response?.status === 401) this.token = undefined;
      throw new MetadataUnavailable(`instance metadata ${key}: ${describe(error)}`, { cause: error });
    }
  }

  async getAll(): Promise<InstanceMetadata> {
    const values = await Promise.all(METADATA_KEYS.map((key) => this.get(key)));
    return Object.fromEntries(METADATA_KEYS.map((key, i) => [key, values[i]!])) as InstanceMetadata;
  }

  /** Undefined when the service answers without tokens (IMDSv1 only); throws when it does not answer. */
  private async sessionToken(): Promise<string | undefined> {
    if (this.token !== undefined && Date.now() - this.token.fetchedAt < TOKEN_RENEW_MS)
      return this.token.value;
    this.pendingToken ??= this.fetchToken().finally(() => {
      this.pendingToken = undefined;
    });
    return this.pendingToken;
  }

  private async fetchToken(): Promise<string | undefined> {
    try {
      const response = await this.http.put<string>('api/token', undefined, {
        headers: { 'X-aws-ec2-metadata-token-ttl-seconds': String(TOKEN_TTL_S) },
      });
      this.token = { value: String(response.data).trim(), fetchedAt: Date.now() };
    } catch (error) {
      // A service that does not know the token call at all (IMDSv1 only) still answers values.
      const status = axios.isAxiosError(error) ? error.response?.status : undefined;
      if (status !== 404 && status !== 405) {
        throw new MetadataUnavailable(`instance metadata session token: ${describe(error)}`, {
          cause: error,
        });
      }
      this.token = { value: undefined, fetchedAt: Date.now() };
    }
    return this.token.value;
  }
}

function describe(error: unknown): string {
  if (axios.isAxiosError(error)) {
    if (error.response) return `HTTP ${error.response.status}`;
    return error.code === 'ECONNABORTED' ? `no answer within ${CALL_TIMEOUT_MS} ms` : error.message;
  }
  return String(error);
}

/** What a development run off EC2 uses instead: obviously not EC2 values. */
export function localMetadata(): InstanceMetadata {
  return {
    'instance-id': `local-${os.hostname()}`,
    'instance-type': 'local',
    'ami-id': 'local',
    'ami-launch-index': '0',
    'placement/region': 'local',
    'public-ipv4': '127.0.0.1',
  };
}
