// The settings the systemd unit (deploy/ecs-host-service.service) gives the
// service on every host, from its `Environment=` lines: read by the build
// (the code cache is made under the unit's V8 flags, scripts/sea.mjs) and by
// the tests, benchmarks and `make run`, which run the service as hosts do.
import { readFileSync } from 'node:fs';

/** Every `Environment=` setting of the unit, by name. */
export function unitSettings() {
  const unit = readFileSync(new URL('../deploy/ecs-host-service.service', import.meta.url), 'utf8');
  // A value with spaces is quoted whole, as systemd needs: `Environment="NAME=a b"`.
  const settings = [...unit.matchAll(/^Environment=(?:"(\w+)=([^"]*)"|(\w+)=(.*))$/gm)].map((match) => [
    match[1] ?? match[3],
    (match[2] ?? match[4]).trim(),
  ]);
  return Object.fromEntries(settings);
}

/** The unit's NODE_OPTIONS; a unit without them is an error. */
export function unitNodeOptions() {
  const options = unitSettings()['NODE_OPTIONS'];
  if (options === undefined) throw new Error('deploy/ecs-host-service.service has no NODE_OPTIONS line');
  return options;
}
