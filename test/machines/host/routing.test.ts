import { describe, expect, it } from 'vitest';
import { TEST_CREDENTIALS } from '../../support/credentials.js';
import { nextRequestWait, pendingTimerId, toContainerEvent } from '../../../machines/host/routing.js';

describe('toContainerEvent', () => {
  it('makes a DPI request a dpi.set and a mount request a cloudStorage.mount', () => {
    expect(toContainerEvent('r1', { kind: 'setDpi', hostPort: 40001, dpi: 192 })).toEqual({
      type: 'dpi.set',
      requestId: 'r1',
      dpi: 192,
    });
    const credentials = TEST_CREDENTIALS;
    expect(
      toContainerEvent('r2', {
        kind: 'mountCloudStorage',
        hostPort: 40001,
        provider: 'dropbox',
        credentials,
      }),
    ).toEqual({ type: 'cloudStorage.mount', requestId: 'r2', provider: 'dropbox', credentials });
    expect(pendingTimerId('r1')).not.toBe(pendingTimerId('r2'));
  });
});

describe('nextRequestWait', () => {
  const facts = {
    requestWaitMs: 30_000,
    connectedRequestWaitMs: 2_000,
    engineConnected: true,
    containerSettingUp: false,
  };

  it('waits the short wait while the stream is connected, and no more when nothing is being set up', () => {
    expect(nextRequestWait(facts, 0)).toBe(2_000);
    expect(nextRequestWait(facts, 2_000)).toBeUndefined();
  });

  it('waits on, in short steps up to the whole wait, while a container is being set up', () => {
    const settingUp = { ...facts, containerSettingUp: true };
    expect(nextRequestWait(settingUp, 2_000)).toBe(2_000);
    expect(nextRequestWait(settingUp, 29_000)).toBe(1_000);
    expect(nextRequestWait(settingUp, 30_000)).toBeUndefined();
  });

  it('waits the whole rest without the stream, when nothing can be known', () => {
    expect(nextRequestWait({ ...facts, engineConnected: false }, 0)).toBe(30_000);
    expect(nextRequestWait({ ...facts, engineConnected: false }, 10_000)).toBe(20_000);
  });
});
