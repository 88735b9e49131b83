/**
 * deploy/install-from-s3.sh as a host's user data runs it, with Debian's AWS
 * CLI against the S3 server, into a temporary root, and systemctl replaced by
 * a recorder (systemd does not run here).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from '../support/service.js';
import { runCommand, type Ran } from '../release/run.js';

export const INSTALL_SCRIPT = path.join(repoRoot, 'deploy/install-from-s3.sh');
/** Debian's awscli package (scripts/install-deps.sh awscli), not another `aws` earlier on a developer's PATH. */
export const DEBIAN_AWS = '/usr/bin/aws';

export interface HostRoot {
  root: string;
  executable: string;
  unit: string;
  /** Every systemctl call so far, one string of arguments each. */
  systemctlCalls(): string[];
  install(args: string[], env: Record<string, string>): Promise<Ran>;
}

export function makeHostRoot(): HostRoot {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'hs-host-'));
  const tools = path.join(root, '.test-tools');
  fs.mkdirSync(tools);
  const record = path.join(tools, 'systemctl.calls');
  const recorder = path.join(tools, 'systemctl');
  fs.writeFileSync(recorder, `#!/bin/sh\necho "$*" >> '${record}'\n`, { mode: 0o755 });
  const home = path.join(tools, 'home');
  fs.mkdirSync(home);
  return {
    root,
    executable: path.join(root, 'usr/local/bin/ecs-host-service'),
    unit: path.join(root, 'etc/systemd/system/ecs-host-service.service'),
    systemctlCalls: () =>
      fs.existsSync(record) ? fs.readFileSync(record, 'utf8').split('\n').filter(Boolean) : [],
    install: (args, env) =>
      runCommand(INSTALL_SCRIPT, args, {
        env: {
          PATH: `${path.dirname(DEBIAN_AWS)}:/bin:/usr/sbin:/sbin`,
          HOME: home,
          AWS_CONFIG_FILE: path.join(home, 'no-config'),
          AWS_SHARED_CREDENTIALS_FILE: path.join(home, 'no-credentials'),
          INSTALL_ROOT: root,
          SYSTEMCTL: recorder,
          TMPDIR: tools,
          ...env,
        },
      }),
  };
}
