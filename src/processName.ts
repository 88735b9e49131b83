/**
 * Imported by main.ts before the rest of the service loads: the fleet's
 * scripts and operators find the service by its name (`pidof
 * ecs-host-service`, `lsof -i :4678 | grep ecs-host`, `ps`, systemd), not
 * as `node`. On Linux libuv rewrites the command line in place and sets the
 * kernel's task name, which keeps 15 characters (`ecs-host-servic`), as the
 * original's did.
 */
export const PROCESS_NAME = 'ecs-host-service';

process.title = PROCESS_NAME;
