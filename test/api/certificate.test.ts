import { execFileSync } from 'node:child_process';
import { X509Certificate, createPrivateKey, generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { describe, expect, it } from 'vitest';
import { createSelfSignedIdentity, selfSignedCertificate } from '../../src/api/certificate.js';
import * as der from '../../src/api/der.js';

const hex = (b: Buffer) => b.toString('hex');

describe('DER encodings', () => {
  it('encodes lengths in the short form below 128 and the long form from 128', () => {
    expect(hex(der.octetString(Buffer.alloc(127)).subarray(0, 2))).toBe('047f');
    expect(hex(der.octetString(Buffer.alloc(128)).subarray(0, 3))).toBe('048180');
    expect(hex(der.octetString(Buffer.alloc(300)).subarray(0, 4))).toBe('0482012c');
  });

  it('encodes object identifiers, arcs of several bytes included', () => {
    expect(hex(der.oid('2.5.4.3'))).toBe('0603550403');
    expect(hex(der.oid('1.2.840.10045.4.3.2'))).toBe('06082a8648ce3d040302');
    expect(hex(der.oid('2.999.3'))).toBe('0603883703');
    expect(() => der.oid('1')).toThrow(/not an object identifier/);
    expect(() => der.oid('1.x.3')).toThrow(/not an object identifier/);
  });

  it('encodes integers in their shortest positive form', () => {
    expect(hex(der.unsignedInteger(Buffer.from([0x00, 0x00, 0x7f])))).toBe('02017f');
    expect(hex(der.unsignedInteger(Buffer.from([0x80])))).toBe('02020080');
    expect(hex(der.unsignedInteger(Buffer.from([0x00])))).toBe('020100');
    expect(hex(der.smallInteger(2))).toBe('020102');
    expect(() => der.smallInteger(128)).toThrow(/not a small integer/);
  });

  it('writes UTCTime through 2049 and GeneralizedTime from 2050', () => {
    const ascii = (b: Buffer) => b.subarray(2).toString('ascii');
    expect(der.time(new Date('2049-12-31T23:59:59.900Z'))[0]).toBe(0x17);
    expect(ascii(der.time(new Date('2049-12-31T23:59:59.900Z')))).toBe('491231235959Z');
    expect(der.time(new Date('2050-01-01T00:00:00Z'))[0]).toBe(0x18);
    expect(ascii(der.time(new Date('2050-01-01T00:00:00Z')))).toBe('20500101000000Z');
  });
});

describe('the API certificate', () => {
  it('is a self-signed P-256 end-entity certificate for serving TLS, valid from an hour ago for five years', async () => {
    const before = Date.now();
    const identity = await createSelfSignedIdentity('host-1.example');
    const cert = new X509Certificate(identity.certPem);
    expect(cert.subject).toBe('CN=host-1.example');
    expect(cert.issuer).toBe('CN=host-1.example');
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(cert.checkPrivateKey(createPrivateKey(identity.keyPem))).toBe(true);
    expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(cert.ca).toBe(false);
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
    // Times are to the second.
    const from = new Date(cert.validFrom).getTime();
    const to = new Date(cert.validTo).getTime();
    expect(from).toBeGreaterThan(before - 3600_000 - 1000);
    expect(from).toBeLessThanOrEqual(Date.now() - 3600_000);
    expect(to - from).toBe(5 * 365 * 24 * 3600_000 + 3600_000);
    // Serial numbers are 16 random bytes with the top bit clear.
    expect(cert.serialNumber).toMatch(/^[4-7][0-9A-F]{31}$/);
    expect(new X509Certificate((await createSelfSignedIdentity('h')).certPem).serialNumber).not.toBe(
      cert.serialNumber,
    );
  });

  it('reads as intended to OpenSSL: version 3, ecdsa-with-SHA256, the extensions critical where they must be', async () => {
    const identity = await createSelfSignedIdentity('host-2');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hs-cert-'));
    try {
      const file = path.join(dir, 'cert.pem');
      fs.writeFileSync(file, identity.certPem);
      const text = execFileSync('openssl', ['x509', '-in', file, '-noout', '-text'], { encoding: 'utf8' });
      expect(text).toMatch(/Version: 3 \(0x2\)/);
      expect(text).toMatch(/Signature Algorithm: ecdsa-with-SHA256/);
      expect(text).toMatch(/X509v3 Basic Constraints: critical\s+CA:FALSE/);
      expect(text).toMatch(/X509v3 Key Usage: critical\s+Digital Signature\n/);
      expect(text).toMatch(/X509v3 Extended Key Usage: \s+TLS Web Server Authentication/);
      // The self-signature checks out, with the certificate as its own trust anchor.
      const verified = execFileSync('openssl', ['verify', '-CAfile', file, '-purpose', 'sslserver', file], {
        encoding: 'utf8',
      });
      expect(verified.trim()).toBe(`${file}: OK`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('serves a TLS handshake that a client trusting only it completes', async () => {
    const identity = await createSelfSignedIdentity('host-3');
    const server = tls.createServer({ key: identity.keyPem, cert: identity.certPem }, (socket) =>
      socket.end('hello'),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const received = await new Promise<string>((resolve, reject) => {
        const socket = tls.connect({
          host: '127.0.0.1',
          port,
          ca: identity.certPem,
          // The name is the host's, not 127.0.0.1: the chain is what is checked here.
          checkServerIdentity: () => undefined,
        });
        let text = '';
        socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
        socket.on('end', () => resolve(text));
        socket.on('error', reject);
      });
      expect(received).toBe('hello');
    } finally {
      server.close();
    }
  });

  it('is signed by the key it carries and no other', () => {
    const keys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const cert = new X509Certificate(selfSignedCertificate('h', keys, Date.now()));
    expect(cert.verify(keys.publicKey)).toBe(true);
    expect(cert.verify(other.publicKey)).toBe(false);
  });
});
