import { describe, expect, it } from 'vitest';
import { serviceCommand, serviceExecutable } from './service.js';

describe('serviceCommand', () => {
  const env = { NODE_OPTIONS: '--max-semi-space-size=2', APP_ENV: 'development' };

  it('runs the development build with this Node.js and its flags on the command line', () => {
    expect(serviceCommand(['--expose-gc'], env, serviceExecutable, undefined)).toEqual({
      command: process.execPath,
      args: ['--expose-gc', serviceExecutable],
      env,
    });
  });

  it('runs a single executable alone, its flags after the unit’s in NODE_OPTIONS', () => {
    const started = serviceCommand(
      ['--expose-gc', '--heapsnapshot-signal=SIGUSR1'],
      env,
      serviceExecutable,
      '/opt/hs',
    );
    expect(started).toEqual({
      command: '/opt/hs',
      args: [],
      env: { ...env, NODE_OPTIONS: '--max-semi-space-size=2 --expose-gc --heapsnapshot-signal=SIGUSR1' },
    });
  });

  it('leaves NODE_OPTIONS empty when neither the unit nor the caller gives a flag', () => {
    const started = serviceCommand([], { APP_ENV: 'development' }, serviceExecutable, '/opt/hs');
    expect(started.env['NODE_OPTIONS']).toBe('');
  });

  it('runs another script (a scratch build) with this Node.js even when a single executable is measured', () => {
    expect(serviceCommand([], env, '/tmp/other/ecs-host-service', '/opt/hs').command).toBe(process.execPath);
  });
});
