/**
 * Certificates for TLS tests, made by `openssl` in a directory the test owns: a CA, a server
 * certificate for 127.0.0.1 and localhost, a client certificate, and a second CA with a client
 * certificate of its own, which a server trusting only the first CA refuses. EC P-256 keys, valid
 * for a day: generating the whole set takes a few tens of milliseconds.
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { findExecutable } from './daemons.ts';
import { DeadlineError } from './deadline.ts';

export interface TlsFiles {
  /** CA certificate (PEM) that signed the server and client certificates. */
  readonly caFile: string;
  readonly serverCertFile: string;
  readonly serverKeyFile: string;
  readonly clientCertFile: string;
  readonly clientKeyFile: string;
  /** A CA nothing here trusts, and a client certificate it signed. */
  readonly otherCaFile: string;
  readonly otherClientCertFile: string;
  readonly otherClientKeyFile: string;
}

const OPENSSL_TIMEOUT_MS = 10_000;

function run(openssl: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(openssl, args, { timeout: OPENSSL_TIMEOUT_MS }, (err, _stdout, stderr) => {
      if (err === null) resolve();
      else if (err.killed) reject(new DeadlineError(`openssl ${args[0]} took over ${OPENSSL_TIMEOUT_MS} ms`));
      else reject(new Error(`openssl ${args.join(' ')} failed: ${stderr.trim() || err.message}`));
    });
  });
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

async function selfSignedCa(openssl: string, dir: string, name: string): Promise<void> {
  await run(openssl, [
    'req',
    '-x509',
    ...EC_KEY,
    '-keyout',
    join(dir, `${name}.key`),
    '-out',
    join(dir, `${name}.pem`),
    '-days',
    '1',
    '-subj',
    `/CN=Cirrus test ${name}`,
  ]);
}

async function leaf(
  openssl: string,
  dir: string,
  name: string,
  ca: string,
  extensions: string,
): Promise<void> {
  const at = (suffix: string): string => join(dir, `${name}.${suffix}`);
  await run(openssl, ['req', ...EC_KEY, '-keyout', at('key'), '-out', at('csr'), '-subj', `/CN=${name}`]);
  await writeFile(at('ext'), extensions);
  await run(openssl, [
    'x509',
    '-req',
    '-in',
    at('csr'),
    '-CA',
    join(dir, `${ca}.pem`),
    '-CAkey',
    join(dir, `${ca}.key`),
    '-CAcreateserial',
    '-CAserial',
    join(dir, `${ca}.srl`),
    '-out',
    at('pem'),
    '-days',
    '1',
    '-extfile',
    at('ext'),
  ]);
}

/** Writes the certificates into `dir` (which must exist) and returns their paths. */
export async function generateTlsFiles(dir: string): Promise<TlsFiles> {
  const openssl = findExecutable('openssl', undefined, ['/usr/bin', '/usr/local/bin'], 'install openssl');
  await selfSignedCa(openssl, dir, 'ca');
  await selfSignedCa(openssl, dir, 'other-ca');
  await leaf(
    openssl,
    dir,
    'server',
    'ca',
    'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n',
  );
  await leaf(openssl, dir, 'client', 'ca', 'extendedKeyUsage=clientAuth\n');
  await leaf(openssl, dir, 'other-client', 'other-ca', 'extendedKeyUsage=clientAuth\n');
  return {
    caFile: join(dir, 'ca.pem'),
    serverCertFile: join(dir, 'server.pem'),
    serverKeyFile: join(dir, 'server.key'),
    clientCertFile: join(dir, 'client.pem'),
    clientKeyFile: join(dir, 'client.key'),
    otherCaFile: join(dir, 'other-ca.pem'),
    otherClientCertFile: join(dir, 'other-client.pem'),
    otherClientKeyFile: join(dir, 'other-client.key'),
  };
}
