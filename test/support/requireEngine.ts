import { execFileSync } from 'node:child_process';

/** Integration tests run against a real engine; without one the run fails here, loudly. */
export default function requireEngine(): void {
  const host = process.env['DOCKER_HOST'];
  if (!host) {
    throw new Error(
      'DOCKER_HOST is not set: run the integration tests with `make test`, which starts a private engine',
    );
  }
  try {
    execFileSync('docker', ['version', '--format', '{{.Server.Version}}'], {
      stdio: 'pipe',
      timeout: 10_000,
    });
  } catch (error) {
    throw new Error(`the Docker engine at ${host} does not answer`, { cause: error });
  }
}
