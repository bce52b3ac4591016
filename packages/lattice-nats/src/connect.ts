/**
 * Connecting, whatever the transport: the options, the server list, credentials, the nats.js settings
 * every connection gets, and why a first connect failed. The transports (TCP in node/tcp.ts, websocket
 * in websocket.ts) differ only in how they dial and in what more they can tell about a failure.
 */
import type { CirrusError } from '@cirrus/protocol';
import {
  InvalidArgumentError,
  LatticeConnectFailedError,
  LatticeConnectRefusedError,
  resolveLimits,
} from '@cirrus/protocol';
import type { Limits } from '@cirrus/protocol';
import { jetstream } from '@nats-io/jetstream';
import type { ConnectionOptions, NatsConnection } from '@nats-io/nats-core';
import type { NatsConnectionImpl } from '@nats-io/nats-core/internal';
import { natsLattice } from './connection.ts';
import type { NatsLatticeConnection } from './connection.ts';
import { prepareCredentials } from './nats-auth.ts';
import type { CredsReader, NatsCredentials, PreparedCredentials } from './nats-auth.ts';
import {
  authError,
  isAuthFailure,
  isPermissionViolation,
  permissionError,
  reasonOf,
  serverRefusal,
} from './nats-errors.ts';

export interface NatsConnectOptions {
  /**
   * One server URL or several of one cluster, e.g. `nats://127.0.0.1:4222`, or the websocket
   * listeners of servers, e.g. `wss://nats.example.com:443` (all of one kind).
   */
  readonly servers: string | readonly string[];
  /** Client name the server shows in its monitoring (e.g. the host id). */
  readonly name?: string;
  readonly credentials?: NatsCredentials;
  /** TCP connections only: over websocket, `wss://` URLs give TLS. */
  readonly tls?: NatsTlsOptions;
  /**
   * What the connection is for, named first in its errors when a process holds several (e.g.
   * `control connection`).
   */
  readonly label?: string;
  /**
   * JetStream domain of the key-value buckets (wasmCloud's `--js-domain`): JetStream requests go to
   * `$JS.<domain>.API`, so a client of a leaf node server without JetStream reaches the hub's. Default:
   * the JetStream of the server the client is connected to.
   */
  readonly jsDomain?: string;
  /** Overrides of the limits table (validated); the NATS timings and the request/KV limits apply here. */
  readonly limits?: Partial<Limits>;
}

/** TLS towards the server over TCP. Giving this object at all makes TLS required. */
export interface NatsTlsOptions {
  /** CA bundle (PEM file) that signed the server's certificate; default: the system's. */
  readonly caFile?: string;
  /** Client certificate and key (PEM files), when the server verifies clients. */
  readonly certFile?: string;
  readonly keyFile?: string;
  /** Name the server's certificate must carry, when it differs from the host in the URL. */
  readonly serverName?: string;
  /** TLS before the NATS INFO exchange (`handshake_first` on the server). */
  readonly handshakeFirst?: boolean;
}

export type TransportKind = 'tcp' | 'websocket';

/** What a transport is told about a failed first connect. */
export interface ConnectFailure {
  readonly servers: readonly string[];
  readonly options: NatsConnectOptions;
  /** Prefix naming the connection (`control connection: `), or ''. */
  readonly prefix: string;
  readonly timeoutMs: number;
  /** LATTICE_CONNECT_REFUSED with the server's words. */
  readonly refused: (refusal: string) => LatticeConnectRefusedError;
}

/** One way to reach NATS servers. */
export interface Dialer {
  readonly kind: TransportKind;
  /** Reads the `.creds` file credentials name; undefined where there are no files. */
  readonly readCredsFile: CredsReader | undefined;
  /** What to check when no server could be reached. */
  readonly unreachableHint: string;
  /** Checks the options only this transport reads (TLS) and turns them into nats.js settings. */
  settings(options: NatsConnectOptions, prefix: string): Promise<Partial<ConnectionOptions>>;
  dial(options: ConnectionOptions): Promise<NatsConnection>;
  /** Why the first connect failed, when the transport can say more than the server's refusal. */
  connectError(err: unknown, failure: ConnectFailure): Promise<CirrusError | undefined>;
  /** A later error of the connection that belongs to the transport (TLS on a reconnect), typed. */
  laterError(
    err: unknown,
    server: string,
    options: NatsConnectOptions,
    prefix: string,
  ): CirrusError | undefined;
}

/** Picks the dialer for the servers' transport; throws when this entry cannot reach them. */
export type DialerFor = (kind: TransportKind, servers: readonly string[], prefix: string) => Dialer;

const WEBSOCKET_URL = /^wss?:\/\//i;

function serverList(servers: string | readonly string[], prefix: string): string[] {
  const list = (typeof servers === 'string' ? servers.split(',') : [...servers])
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (list.length === 0) {
    throw new InvalidArgumentError(`${prefix}no NATS server given`, {
      hint: 'pass a URL such as nats://127.0.0.1:4222 (or ws://127.0.0.1:8080 for a websocket listener)',
    });
  }
  return list;
}

/** nats.js dials every server of a connection with one transport, so one list cannot mix them. */
function transportOf(servers: readonly string[], prefix: string): TransportKind {
  const websocket = servers.filter((s) => WEBSOCKET_URL.test(s));
  if (websocket.length === 0) return 'tcp';
  if (websocket.length === servers.length) return 'websocket';
  throw new InvalidArgumentError(
    `${prefix}the NATS servers ${servers.join(', ')} mix websocket (ws://, wss://) and TCP URLs`,
    {
      hint: "list servers of one transport: all ws:// or wss:// (the servers' websocket listeners), or all nats:// or tls://",
    },
  );
}

/**
 * nats.js keeps the transport it dials with in one setting per process, read at every connect and
 * reconnect: while connections of one kind are open, dialing the other kind would make them reconnect
 * over the wrong transport. So a process has connections of one kind open at a time.
 */
const openConnections: Record<TransportKind, number> = { tcp: 0, websocket: 0 };

function claimTransport(kind: TransportKind, prefix: string): () => void {
  const other: TransportKind = kind === 'tcp' ? 'websocket' : 'tcp';
  if (openConnections[other] > 0) {
    const name = (k: TransportKind): string => (k === 'tcp' ? 'TCP' : 'websocket');
    throw new InvalidArgumentError(
      `${prefix}cannot open a ${name(kind)} NATS connection while this process has ${openConnections[other]} open over ${name(other)}`,
      {
        hint: 'nats.js dials all connections of a process with one transport: close the others first, or give every connection URLs of the same kind',
      },
    );
  }
  openConnections[kind]++;
  let released = false;
  return () => {
    if (released) return;
    released = true;
    openConnections[kind]--;
  };
}

/** A domain is one subject token: its API is `$JS.<domain>.API.>`, as nats-server checks it. */
const JS_DOMAIN = /^[^\s.*>]+$/;

function checkJsDomain(domain: string | undefined, prefix: string): void {
  if (domain === undefined || JS_DOMAIN.test(domain)) return;
  throw new InvalidArgumentError(`${prefix}JetStream domain ${JSON.stringify(domain)} is not valid`, {
    hint: "name the domain as the hub's configuration does (jetstream { domain: hub }): one word, without dots, wildcards (* >) or spaces",
  });
}

/** What to do about a refusal, by the server's words (nats-server's and the local endpoint's texts). */
function refusalHint(refusal: string): string {
  if (/maximum connections/i.test(refusal)) {
    return 'the server already serves as many clients as it allows: close some, or raise its max_connections (for `cirrus up`: CIRRUS_LIMIT_LOCAL_ENDPOINT_MAX_CONNECTIONS)';
  }
  if (/authentication timeout/i.test(refusal)) {
    return "the server did not get this client's CONNECT in time: the machine is overloaded, or many connections without credentials are being opened to it; retry";
  }
  return "the server's log says why it refused this client";
}

/**
 * Why the first connect failed, in Cirrus codes: credentials refused, refused for another reason the
 * server gave, what the transport found (TLS), or the server unreachable.
 */
async function connectError(
  err: unknown,
  failure: Omit<ConnectFailure, 'refused'>,
  credentials: PreparedCredentials,
  dialer: Dialer,
): Promise<CirrusError> {
  const list = failure.servers.join(', ');
  const { prefix } = failure;
  if (isAuthFailure(err)) return authError(err, list, credentials, prefix);
  const refused = (refusal: string): LatticeConnectRefusedError =>
    new LatticeConnectRefusedError(`${prefix}the NATS server at ${list} refused the connection: ${refusal}`, {
      hint: refusalHint(refusal),
      cause: err,
    });
  const refusal = serverRefusal(err);
  if (refusal !== undefined) return refused(refusal);
  const explained = await dialer.connectError(err, { ...failure, refused });
  if (explained !== undefined) return explained;
  return new LatticeConnectFailedError(`${prefix}cannot connect to NATS at ${list}: ${reasonOf(err)}`, {
    hint: dialer.unreachableHint,
    cause: err,
  });
}

/**
 * Connects with the dialer `dialerFor` picks; rejects saying what failed: INVALID_ARGUMENT (the
 * options), LATTICE_CREDENTIALS_INVALID (before connecting), LATTICE_AUTH_FAILED,
 * LATTICE_CONNECT_REFUSED, LATTICE_TLS_FAILED or LATTICE_CONNECT_FAILED.
 */
export async function connectWith(
  given: NatsConnectOptions,
  dialerFor: DialerFor,
): Promise<NatsLatticeConnection> {
  const limits = resolveLimits(given.limits ?? {});
  const prefix = given.label === undefined ? '' : `${given.label}: `;
  const servers = serverList(given.servers, prefix);
  const dialer = dialerFor(transportOf(servers, prefix), servers, prefix);
  // A tls:// URL requires TLS, as it does for the Go and Rust clients.
  const wantsTls = given.tls === undefined && servers.some((s) => /^tls:\/\//i.test(s));
  const options: NatsConnectOptions = wantsTls ? { ...given, tls: {} } : given;
  checkJsDomain(options.jsDomain, prefix);
  const credentials = await prepareCredentials(options.credentials, prefix, dialer.readCredsFile);
  const natsOptions: ConnectionOptions = {
    servers,
    // Off for the first connect only, and turned on once connected. With it on, a server that refuses
    // the client with -ERR during the handshake (`maximum connections exceeded`) leaves nats.js waiting
    // for its own reconnect loop until the connect timeout, which then hides the server's words.
    reconnect: false,
    // A host must outlive any server outage: the default gives up after 10 attempts (~20 s).
    maxReconnectAttempts: -1,
    // Credentials that stop working (rotated, revoked) are fixed on the server side; keep trying
    // rather than closing the host's connection for good after two refusals.
    ignoreAuthErrorAbort: true,
    reconnectTimeWait: limits.natsReconnectWaitMs,
    // The default (2 min × 2 pings) leaves a host talking to a dead server for minutes.
    pingInterval: limits.natsPingIntervalMs,
    maxPingOut: limits.natsMaxPingsOut,
    timeout: limits.natsConnectTimeoutMs,
    ...credentials.options,
    ...(await dialer.settings(options, prefix)),
  };
  if (options.name !== undefined) natsOptions.name = options.name;
  const release = claimTransport(dialer.kind, prefix);
  let nc: NatsConnection;
  try {
    nc = await dialer.dial(natsOptions);
  } catch (err) {
    release();
    const failure = { servers, options, prefix, timeoutMs: limits.natsConnectTimeoutMs };
    throw await connectError(err, failure, credentials, dialer);
  }
  void nc.closed().then(release);
  // nats.js reads this option of the connection's own options object at each disconnect.
  (nc as NatsConnectionImpl).options.reconnect = true;
  const js = jetstream(nc, {
    timeout: limits.natsKvTimeoutMs,
    ...(options.jsDomain === undefined ? {} : { domain: options.jsDomain }),
  });
  return natsLattice(nc, {
    js,
    limits,
    jsDomain: options.jsDomain,
    explain: (err) => {
      const server = nc.getServer();
      if (isAuthFailure(err)) return authError(err, server, credentials, prefix);
      if (isPermissionViolation(err)) return permissionError(err);
      return dialer.laterError(err, server, options, prefix) ?? err;
    },
  });
}
