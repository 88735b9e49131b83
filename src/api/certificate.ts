/**
 * The API's TLS identity: a fresh self-signed ECDSA P-256 certificate made
 * in-process at every start (no openssl subprocess). P-256 rather than RSA
 * keeps a new TLS connection cheap for the webserver.
 */
// @peculiar/x509 resolves its services through tsyringe, which needs the Reflect polyfill loaded first.
import 'reflect-metadata';
import { KeyObject, webcrypto } from 'node:crypto';
import path from 'node:path';
import * as x509 from '@peculiar/x509';
import { writeFilesAtomic } from '../resources/atomicFile.js';

export const KEY_FILE = 'key.pem';
export const CERT_FILE = 'cert.pem';

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const VALIDITY_MS = 5 * 365 * 24 * 3600 * 1000;
/** Tolerates a webserver clock a little behind ours. */
const BACKDATE_MS = 3600 * 1000;

export interface TlsIdentity {
  keyPem: string;
  certPem: string;
}

export async function createSelfSignedIdentity(commonName: string): Promise<TlsIdentity> {
  // Node's webcrypto is the standard Crypto; the library types it with the DOM lib, which we do not load.
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  const keys = await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']);
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: Buffer.from(webcrypto.getRandomValues(new Uint8Array(16)))
      .toString('hex')
      .replace(/^[89a-f]/, '1'),
    name: `CN=${commonName}`,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + VALIDITY_MS),
    signingAlgorithm: ALGORITHM,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
    ],
  });
  const keyPem = KeyObject.from(keys.privateKey).export({ type: 'pkcs8', format: 'pem' }).toString();
  return { keyPem, certPem: cert.toString('pem') };
}

/** Writes the key (root only, 0600 from the first byte) and the certificate into the private folder. */
export async function writeIdentity(privateDir: string, identity: TlsIdentity): Promise<void> {
  await writeFilesAtomic([
    { file: path.join(privateDir, KEY_FILE), content: identity.keyPem, mode: 0o600 },
    { file: path.join(privateDir, CERT_FILE), content: identity.certPem, mode: 0o644 },
  ]);
}
