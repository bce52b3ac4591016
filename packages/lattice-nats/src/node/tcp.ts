/**
 * The TCP transport (Node): nats.js's Node client, TLS from PEM files, and a second look at the server
 * when the first connect failed without saying why.
 */
import { connect as tcpConnect } from 'node:net';
import type { CirrusError } from '@cirrus/protocol';
import { LatticeConnectFailedError } from '@cirrus/protocol';
import { connect } from '@nats-io/transport-node';
import type { ConnectFailure, Dialer } from '../connect.ts';
import { isCutOff, isTimeout } from '../nats-errors.ts';
import { readNatsCredsFile } from './creds-file.ts';
import { natsTlsOptions, probeTls, tlsError } from './nats-tls.ts';

/** After the server's INFO, how long a refusal (`-ERR`) may take to follow it in the same burst. */
const REFUSAL_GRACE_MS = 250;
/** More than any INFO line; a server that sends this much without a refusal is not refusing. */
const PROBE_MAX_BYTES = 64 * 1024;
const REFUSAL = /^INFO [^\r\n]*\r\n-ERR '([^'\r\n]*)'\r\n/;
const REFUSAL_PROBES = 3;

/**
 * Reads what the server says to a client that sends nothing. nats-server refuses a client beyond its
 * connection limit with `-ERR` right after INFO and closes at once, so the client library, already
 * writing its CONNECT, sees only a broken pipe or a reset; this second look recovers the words.
 */
async function probeRefusal(server: string, timeoutMs: number): Promise<string | undefined> {
  // The server may reset the connection as it closes it, and the reset can overtake its words; a
  // few more looks make that unlikely, and a server that is not refusing answers each without -ERR.
  for (let attempt = 1; attempt <= REFUSAL_PROBES; attempt++) {
    const outcome = await probeOnce(server, timeoutMs);
    if (outcome.kind !== 'reset') return outcome.refusal;
  }
  return undefined;
}

/** One look: the server's refusal (or none), or a connection cut off before the server was heard. */
type ProbeOutcome = { kind: 'heard'; refusal: string | undefined } | { kind: 'reset' };

async function probeOnce(server: string, timeoutMs: number): Promise<ProbeOutcome> {
  const heard = (refusal: string | undefined): ProbeOutcome => ({ kind: 'heard', refusal });
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(server) ? server : `nats://${server}`);
  } catch {
    return heard(undefined);
  }
  const socket = tcpConnect(url.port === '' ? 4222 : Number(url.port), url.hostname.replace(/^\[|\]$/g, ''));
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await new Promise<ProbeOutcome>((resolve) => {
      timer = setTimeout(() => resolve(heard(undefined)), timeoutMs);
      let text = '';
      let greeted = false;
      socket.on('data', (chunk: Buffer) => {
        text += chunk.toString('latin1');
        const refused = REFUSAL.exec(text);
        if (refused !== null) resolve(heard(refused[1]));
        else if (text.length > PROBE_MAX_BYTES) resolve(heard(undefined));
        else if (!greeted && text.includes('\r\n')) {
          greeted = true;
          clearTimeout(timer);
          timer = setTimeout(() => resolve(heard(undefined)), REFUSAL_GRACE_MS);
        }
      });
      socket.on('error', () => resolve({ kind: 'reset' }));
      socket.on('close', () => resolve(heard(undefined)));
    });
  } finally {
    clearTimeout(timer);
    socket.destroy();
  }
}

/** After the server refused without a word, or TLS failed in a way nats.js does not report. */
async function connectError(err: unknown, failure: ConnectFailure): Promise<CirrusError | undefined> {
  const { servers, options, prefix, timeoutMs } = failure;
  const list = servers.join(', ');
  const context = { servers: list, tls: options.tls, prefix };
  const tls = tlsError(err, context);
  if (tls !== undefined) return tls;
  const first = servers[0];
  if (first === undefined) return undefined;
  if (isCutOff(err)) {
    const probed = await probeRefusal(first, timeoutMs);
    if (probed !== undefined) return failure.refused(probed);
  }
  // A server that refuses the TLS handshake (no client certificate) may reset the connection before
  // its alert is read, and one that expects TLS first stays silent: a second look tells which.
  if (isTimeout(err) || isCutOff(err)) {
    const probe = await probeTls(first, options.tls, timeoutMs);
    if (probe.kind === 'failed') {
      const explained = tlsError(probe.error, context);
      if (explained !== undefined) return explained;
    }
    if (probe.kind === 'silent' && isTimeout(err)) {
      return new LatticeConnectFailedError(
        `${prefix}cannot connect to NATS at ${list}: the server sent no greeting within ${timeoutMs} ms`,
        {
          hint:
            options.tls?.handshakeFirst === true
              ? 'check that this is a NATS port with TLS first (handshake_first) enabled'
              : 'a server with TLS first (handshake_first) waits for the client to start TLS: give the TLS-first option (cirrus: --nats-tls-first)',
          cause: err,
        },
      );
    }
  }
  return undefined;
}

/** NATS over TCP, with TLS when asked for; credentials may name a `.creds` file. */
export const tcpDialer: Dialer = {
  kind: 'tcp',
  readCredsFile: readNatsCredsFile,
  unreachableHint:
    'check that nats-server is running and reachable at that address (start one with `nats-server -js`)',
  async settings(options, prefix) {
    return options.tls === undefined ? {} : { tls: await natsTlsOptions(options.tls, prefix) };
  },
  dial: (options) => connect(options),
  connectError,
  laterError: (err, server, options, prefix) => tlsError(err, { servers: server, tls: options.tls, prefix }),
};
