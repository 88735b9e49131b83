/** Cloud-storage credentials for machine tests, whose mounts are fakes: no value is used but to check it never shows. */
import { Sealed, type CloudCredentials } from '../../machines/events.js';

export const TEST_CREDENTIALS = new Sealed<CloudCredentials>({
  accessToken: 'a',
  refreshToken: 'r',
  expiry: 'e',
  tokenType: 'Bearer',
  clientId: 'c',
  clientSecret: 's',
});
