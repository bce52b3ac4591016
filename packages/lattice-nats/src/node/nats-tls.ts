/**
 * TLS towards a NATS server: the options nats.js gets, files checked before connecting, and failures
 * explained. Most TLS failures reach nats.js as Node errors with an OpenSSL code, which say exactly what
 * is wrong. One does not: a server that refuses the client certificate (missing, or signed by a CA it
 * does not trust) sends its alert after the TLS 1.3 handshake has completed on the client side, and
 * nats.js then only reports that the connect timed out. So after a timed-out connect the handshake is
 * replayed once by hand (`probeTls`), which surfaces the server's alert.
 */
import { readFile } from 'node:fs/promises';
import { isIP, connect as tcpConnect } from 'node:net';
import type { Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { ConnectionOptions as NodeTlsOptions } from 'node:tls';
import { InvalidArgumentError, LatticeTlsFailedError } from '@cirrus/protocol';
import type { NodeConnectionOptions } from '@nats-io/transport-node';
import type { NatsTlsOptions } from '../connect.ts';
import { causeChain, reasonOf } from '../nats-errors.ts';

type NatsJsTls = NonNullable<NodeConnectionOptions['tls']>;

const FILE_FLAGS = {
  caFile: '--nats-tls-ca',
  certFile: '--nats-tls-cert',
  keyFile: '--nats-tls-key',
} as const;
const FILE_NAMES = { caFile: 'CA file', certFile: 'client certificate', keyFile: 'client key' } as const;

/**
 * The nats.js form. nats.js hands its `tls` object on to Node's `tls.connect`, so `servername` works
 * although its type does not list it.
 */
export async function natsTlsOptions(tls: NatsTlsOptions, prefix = ''): Promise<NatsJsTls> {
  if ((tls.certFile === undefined) !== (tls.keyFile === undefined)) {
    throw new InvalidArgumentError(
      `${prefix}a TLS client certificate needs its key, and a key its certificate`,
      {
        hint: 'give both (cirrus: --nats-tls-cert FILE --nats-tls-key FILE)',
      },
    );
  }
  const out: NatsJsTls & { servername?: string } = {};
  for (const field of ['caFile', 'certFile', 'keyFile'] as const) {
    const file = tls[field];
    if (file === undefined) continue;
    // nats.js reads the files on every (re)connect; checked here, a typo fails with its name at once.
    try {
      await readFile(file);
    } catch (err) {
      throw new LatticeTlsFailedError(
        `${prefix}cannot read the TLS ${FILE_NAMES[field]} ${file}: ${reasonOf(err)}`,
        {
          hint: `check the path and that this user may read it (cirrus: ${FILE_FLAGS[field]})`,
          cause: err,
        },
      );
    }
    out[field] = file;
  }
  if (tls.serverName !== undefined) out.servername = tls.serverName;
  if (tls.handshakeFirst === true) out.handshakeFirst = true;
  return out;
}

/** OpenSSL verification codes that mean "no trusted CA signed the server's certificate". */
const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
]);

/** TLS alerts a server sends when it does not accept the client's certificate (or its absence). */
const CLIENT_CERT_ALERT =
  /ALERT_(BAD_CERTIFICATE|CERTIFICATE_REQUIRED|UNKNOWN_CA|HANDSHAKE_FAILURE|ACCESS_DENIED|UNSUPPORTED_CERTIFICATE|CERTIFICATE_UNKNOWN|CERTIFICATE_EXPIRED|DECRYPT_ERROR)$/;

function codeOf(err: unknown): string | undefined {
  for (const e of causeChain(err)) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && code !== '') return code;
  }
  return undefined;
}

export interface TlsContext {
  /** The servers, for messages. */
  readonly servers: string;
  /** The connection's TLS options, if any (the server may ask for TLS without them). */
  readonly tls: NatsTlsOptions | undefined;
  /** Prefix naming the connection (`control connection: `), or ''. */
  readonly prefix: string;
}

/** The typed error for a TLS failure, or undefined when `err` is none. */
export function tlsError(err: unknown, ctx: TlsContext): LatticeTlsFailedError | undefined {
  const code = codeOf(err);
  const reason = reasonOf(err);
  const fail = (what: string, hint: string): LatticeTlsFailedError =>
    new LatticeTlsFailedError(`${ctx.prefix}TLS with the NATS server at ${ctx.servers} failed: ${what}`, {
      hint,
      cause: err,
      ...(code === undefined ? {} : { details: { tls_code: code } }),
    });
  const ca = ctx.tls?.caFile;
  if (code !== undefined && UNTRUSTED.has(code)) {
    return fail(
      `the server's certificate is not signed by a CA this connection trusts (${ca === undefined ? "the system's CAs" : `CA file ${ca}`}; ${code})`,
      "give the CA certificate that signed the server's certificate (cirrus: --nats-tls-ca FILE)",
    );
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return fail(
      `the server's certificate is not issued for the name connected to (${reason})`,
      'connect by a name the certificate lists, or say which name to expect (cirrus: --nats-tls-server-name NAME)',
    );
  }
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') {
    return fail(
      `the server's certificate is ${code === 'CERT_HAS_EXPIRED' ? 'expired' : 'not valid yet'}`,
      "renew the server's certificate, or check this machine's clock",
    );
  }
  const alert = code === undefined ? null : CLIENT_CERT_ALERT.exec(code);
  if (alert !== null) {
    const name = `TLS alert: ${(alert[1] ?? '').toLowerCase().replaceAll('_', ' ')}`;
    const cert = ctx.tls?.certFile;
    return cert === undefined
      ? fail(
          `the server requires a client certificate and this connection has none (${name})`,
          "give a client certificate and its key signed by a CA in the server's tls ca_file (cirrus: --nats-tls-cert FILE --nats-tls-key FILE)",
        )
      : fail(
          `the server refused the client certificate ${cert} (${name})`,
          "the certificate must be signed by a CA in the server's tls ca_file, be valid now, and allow client authentication",
        );
  }
  if (code === 'ERR_OSSL_X509_KEY_VALUES_MISMATCH') {
    return fail(
      `the client key ${ctx.tls?.keyFile ?? ''} does not belong to the client certificate ${ctx.tls?.certFile ?? ''}`,
      'give the key that was generated with the certificate',
    );
  }
  if (/server does not support 'tls'|tls is not available/i.test(reason)) {
    return fail(
      'this connection requires TLS and the server offers none',
      'enable TLS on the server (a tls { } block), or connect without TLS options and a nats:// URL',
    );
  }
  if (code?.startsWith('ERR_SSL_') === true || code?.startsWith('ERR_TLS_') === true) {
    return fail(
      `${reason} (${code})`,
      "check that the server speaks TLS on this port, and the connection's CA, certificate and key",
    );
  }
  return undefined;
}

/** What replaying the handshake found. */
export type TlsProbe =
  /** The handshake failed with this error (classify it with `tlsError`). */
  | { readonly kind: 'failed'; readonly error: unknown }
  /** The server said nothing in time: it may expect TLS first, or it is no NATS server. */
  | { readonly kind: 'silent' }
  /** TLS is not the problem. */
  | { readonly kind: 'fine' };

function hostPortOf(server: string): { host: string; port: number } {
  const url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(server) ? server : `nats://${server}`);
  return { host: url.hostname.replace(/^\[|\]$/g, ''), port: url.port === '' ? 4222 : Number(url.port) };
}

async function nodeTlsOptions(tls: NatsTlsOptions | undefined, host: string): Promise<NodeTlsOptions> {
  const out: NodeTlsOptions = { host, rejectUnauthorized: true };
  // Node refuses an IP address as SNI name; without one it checks the IP against the certificate.
  const name = tls?.serverName ?? (isIP(host) === 0 ? host : undefined);
  if (name !== undefined) out.servername = name;
  if (tls?.caFile !== undefined) out.ca = await readFile(tls.caFile);
  if (tls?.certFile !== undefined) out.cert = await readFile(tls.certFile);
  if (tls?.keyFile !== undefined) out.key = await readFile(tls.keyFile);
  return out;
}

/**
 * Connects to `server` as nats.js would (INFO, then TLS when the server asks for it or the connection
 * wants it; or TLS at once with `handshakeFirst`), sends a PING, and reports what the TLS layer said.
 * Always settles within `timeoutMs`; sends no credentials.
 */
export async function probeTls(
  server: string,
  tls: NatsTlsOptions | undefined,
  timeoutMs: number,
): Promise<TlsProbe> {
  let address: { host: string; port: number };
  let options: NodeTlsOptions;
  try {
    address = hostPortOf(server);
    options = await nodeTlsOptions(tls, address.host);
  } catch {
    return { kind: 'fine' };
  }
  const sockets: Socket[] = [];
  let timer: NodeJS.Timeout | undefined;
  const outcome = new Promise<TlsProbe>((resolve) => {
    timer = setTimeout(() => resolve({ kind: 'silent' }), timeoutMs);
    const handshake = (socket?: Socket): void => {
      const secure = tlsConnect(
        socket === undefined ? { ...options, port: address.port } : { ...options, socket },
        () => secure.write('PING\r\n'),
      );
      sockets.push(secure);
      secure.once('error', (error) => resolve({ kind: 'failed', error }));
      // Any answer over TLS (PONG, or -ERR for the missing CONNECT) proves the handshake was accepted.
      secure.once('data', () => resolve({ kind: 'fine' }));
    };
    if (tls?.handshakeFirst === true) {
      handshake();
      return;
    }
    const plain = tcpConnect(address.port, address.host);
    sockets.push(plain);
    plain.once('error', () => resolve({ kind: 'fine' }));
    let greeting = '';
    const onData = (chunk: Buffer): void => {
      greeting += chunk.toString('latin1');
      const end = greeting.indexOf('\r\n');
      if (end < 0) return;
      plain.off('data', onData);
      let info: { tls_required?: boolean; tls_available?: boolean } = {};
      try {
        info = JSON.parse(greeting.slice(0, end).replace(/^INFO\s+/, '')) as typeof info;
      } catch {
        resolve({ kind: 'fine' });
        return;
      }
      if (info.tls_required === true || (tls !== undefined && info.tls_available === true)) handshake(plain);
      else resolve({ kind: 'fine' });
    };
    plain.on('data', onData);
  });
  try {
    return await outcome;
  } finally {
    clearTimeout(timer);
    for (const socket of sockets) socket.destroy();
  }
}
