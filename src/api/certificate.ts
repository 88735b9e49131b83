/**
 * The API's TLS identity: a fresh self-signed ECDSA P-256 certificate made
 * in-process at every start (no openssl subprocess). P-256 rather than RSA
 * keeps a new TLS connection cheap for the webserver.
 *
 * The certificate is encoded here (./der.ts) and signed by Node's crypto.
 * It is one fixed shape, so a general X.509 library bought nothing: the one
 * used before (@peculiar/x509, with its ASN.1 schemas and dependency
 * container) held 3.2 MB of every host's heap and took 60-80 ms of each
 * start to load. Node's own X509Certificate and OpenSSL read the result in
 * the tests.
 */
import { generateKeyPair, randomBytes, sign, type KeyObject } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import { writeFilesAtomic } from '../resources/atomicFile.js';
import * as der from './der.js';

export const KEY_FILE = 'key.pem';
export const CERT_FILE = 'cert.pem';

const VALIDITY_MS = 5 * 365 * 24 * 3600 * 1000;
/** Tolerates a webserver clock a little behind ours. */
const BACKDATE_MS = 3600 * 1000;

const OID = {
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  commonName: '2.5.4.3',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extendedKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
} as const;

export interface TlsIdentity {
  keyPem: string;
  certPem: string;
}

const generateEcKeyPair = promisify(generateKeyPair);

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return der.sequence(der.oid(id), ...(critical ? [der.boolean(true)] : []), der.octetString(value));
}

/** 16 random bytes, the first in 0x40-0x7f: positive, and always 16 bytes long. */
function serialNumber(): Buffer {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x3f) | 0x40;
  return bytes;
}

/** The certificate's DER: version 3, self-issued, an end entity that may only serve TLS. */
export function selfSignedCertificate(
  commonName: string,
  keys: { publicKey: KeyObject; privateKey: KeyObject },
  now: number,
): Buffer {
  const signatureAlgorithm = der.sequence(der.oid(OID.ecdsaWithSha256));
  const name = der.sequence(der.set(der.sequence(der.oid(OID.commonName), der.utf8String(commonName))));
  const tbsCertificate = der.sequence(
    der.explicit(0, der.smallInteger(2)),
    der.unsignedInteger(serialNumber()),
    signatureAlgorithm,
    name,
    der.sequence(der.time(new Date(now - BACKDATE_MS)), der.time(new Date(now + VALIDITY_MS))),
    name,
    keys.publicKey.export({ type: 'spki', format: 'der' }),
    der.explicit(
      3,
      der.sequence(
        // Not a CA (an empty sequence: cA defaults to false).
        extension(OID.basicConstraints, true, der.sequence()),
        // digitalSignature only: bit 0, the other seven bits unused.
        extension(OID.keyUsage, true, der.bitString(Buffer.from([0x80]), 7)),
        extension(OID.extendedKeyUsage, false, der.sequence(der.oid(OID.serverAuth))),
      ),
    ),
  );
  // ECDSA's signature comes DER-encoded (r, s), as a certificate carries it.
  const signature = sign('sha256', tbsCertificate, keys.privateKey);
  return der.sequence(tbsCertificate, signatureAlgorithm, der.bitString(signature));
}

function pem(label: string, body: Buffer): string {
  const lines = body.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

export async function createSelfSignedIdentity(commonName: string): Promise<TlsIdentity> {
  const keys = await generateEcKeyPair('ec', { namedCurve: 'P-256' });
  const certificate = selfSignedCertificate(commonName, keys, Date.now());
  const keyPem = keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  return { keyPem, certPem: pem('CERTIFICATE', certificate) };
}

/** Writes the key (root only, 0600 from the first byte) and the certificate into the private folder. */
export async function writeIdentity(privateDir: string, identity: TlsIdentity): Promise<void> {
  await writeFilesAtomic([
    { file: path.join(privateDir, KEY_FILE), content: identity.keyPem, mode: 0o600 },
    { file: path.join(privateDir, CERT_FILE), content: identity.certPem, mode: 0o644 },
  ]);
}
