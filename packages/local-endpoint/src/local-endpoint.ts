/**
 * The local lattice endpoint: a memory lattice served over the NATS client protocol on a loopback
 * port, so that tools in other processes (the `cirrus` CLI through the NATS adapter, nats.js, the
 * `nats` CLI) reach a host started without NATS exactly as they would reach a nats-server. It serves
 * the core protocol only: no TLS, no JetStream (so no key-value over it), no clustering.
 *
 * Security rests on two things: the socket listens on loopback only, and every client must present
 * the token in its CONNECT before anything else is accepted.
 *
 * Admission keeps clients without the token from locking out those with it. Connections that have
 * not authenticated yet (still waiting for their CONNECT, or refused and being closed) have a budget
 * of their own, `localEndpointMaxUnauthenticated`; when a new connection finds it full, the oldest
 * of them is dropped. Only authenticated clients count against `localEndpointMaxConnections`. A
 * client with the token sends its CONNECT as soon as it reads INFO (well under a millisecond on
 * loopback), so a flood of idle connections, which nats-server would let fill its single connection
 * limit until their auth timeout, only ever evicts itself; to push out an honest client, a budget's
 * worth of new connections would have to arrive within that client's own handshake. Refusing the
 * newcomer instead (nats-server's rule) is what let idlers lock the endpoint. Sockets held stay
 * bounded by the sum of the two limits, whatever the rate of connections.
 *
 * Browsers reach the endpoint over websocket instead, through an HTTP server that hands it its
 * upgrade requests (`acceptWebSocket`): the same sessions, tokens, limits and admission, over the
 * connections of a server that the endpoint does not own.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { BlockList, createServer, isIP, Socket } from 'node:net';
import type { AddressInfo, Server } from 'node:net';
import type { Duplex } from 'node:stream';
import {
  AddressInUseError,
  InvalidAddressError,
  InvalidArgumentError,
  resolveLimits,
} from '@cirrus/protocol';
import type { LimitName } from '@cirrus/protocol';
import type { MemoryLattice } from '@cirrus/lattice';
import { ClientSession, tokenDigest, WIRE_SESSION } from './local-endpoint-session.ts';
import type { SessionContext, SessionLimits } from './local-endpoint-session.ts';
import { errLine, infoLine } from './local-endpoint-wire.ts';
import { acceptUpgrade, checkUpgrade, refuseUpgrade, WebSocketStream } from './websocket.ts';

export interface ServeLatticeOptions {
  /** A loopback address: `127.0.0.1` (default), another `127.x.y.z`, `::1` or `localhost`. */
  host?: string;
  /** TCP port; `0` (default) picks a free one. */
  port?: number;
  /** The secret every client must send as `auth_token`; at least 16 characters. */
  token: string;
  /** Largest message a client may publish; default and upper bound: the lattice's own maximum. */
  maxPayload?: number;
  /** Default `localEndpointMaxConnections`: authenticated clients at once. */
  maxConnections?: number;
  /** Default `localEndpointMaxUnauthenticated`: connections not (yet) authenticated at once. */
  maxUnauthenticated?: number;
  /** Default `localEndpointMaxSubscriptions`. */
  maxSubscriptionsPerConnection?: number;
  /** Default `localEndpointMaxControlLineBytes`. */
  maxControlLineBytes?: number;
  /** Default `localEndpointMaxPendingBytes`. */
  maxPendingBytes?: number;
  /** Default `localEndpointPingIntervalMs`. */
  pingIntervalMs?: number;
  /** Default `localEndpointMaxPingsOut`. */
  maxPingsOut?: number;
  /** Default `localEndpointAuthTimeoutMs`. */
  authTimeoutMs?: number;
  /** Default `localEndpointMaxWebSocketFrameBytes`: the largest frame a websocket client may send. */
  maxWebSocketFrameBytes?: number;
  /** Failures that are not a client's fault (the client concerned is dropped); default: ignored. */
  onError?: (err: unknown) => void;
}

export interface LocalEndpoint {
  /** `nats://127.0.0.1:PORT`, for any NATS client. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** Clients connected right now, over TCP or websocket (authenticated or not yet; refused ones not counted). */
  readonly connectionCount: number;
  /**
   * Takes over an upgrade request an HTTP server received (its `upgrade` event: the request, the
   * socket and the bytes read past the request) and serves it as a websocket client of the endpoint,
   * held to every rule a TCP client is. Answers 403 when the request comes from a page of another
   * origin than the server's, 4xx for a malformed handshake and 503 once the endpoint is closed.
   */
  acceptWebSocket(request: IncomingMessage, socket: Duplex, head: Uint8Array): void;
  /** Stops listening and disconnects every client; their lattice subscriptions end. */
  close(): Promise<void>;
}

const MIN_TOKEN_LENGTH = 16;
/** The NATS server version clients gate features on; only JetStream features depend on it. */
const SERVER_VERSION = '2.10.0';

const loopback = new BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');

function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  const family = isIP(host);
  if (family === 0) return false;
  return loopback.check(host, family === 4 ? 'ipv4' : 'ipv6');
}

function urlHost(address: string): string {
  return isIP(address) === 6 ? `[${address}]` : address;
}

/** Serves `lattice` to NATS clients on a loopback port; resolves once the port is bound. */
export async function serveLattice(
  lattice: MemoryLattice,
  options: ServeLatticeOptions,
): Promise<LocalEndpoint> {
  const host = options.host ?? '127.0.0.1';
  if (!isLoopback(host)) {
    throw new InvalidAddressError(
      `the local lattice endpoint must listen on loopback, not ${JSON.stringify(host)}`,
      {
        hint: 'use 127.0.0.1 or ::1; to share a lattice between machines run a NATS server instead',
      },
    );
  }
  if (typeof options.token !== 'string' || options.token.length < MIN_TOKEN_LENGTH) {
    throw new InvalidArgumentError(
      `the local lattice endpoint token must have at least ${MIN_TOKEN_LENGTH} characters`,
      {
        hint: 'generate one from 32 random bytes',
      },
    );
  }
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new InvalidArgumentError(`port ${port} is not a TCP port`, {
      hint: 'use 0 (any free port) to 65535',
    });
  }
  const maxPayload = options.maxPayload ?? lattice.maxPayload;
  if (!Number.isSafeInteger(maxPayload) || maxPayload < 1 || maxPayload > lattice.maxPayload) {
    throw new InvalidArgumentError(
      `maxPayload ${maxPayload} must be a whole number from 1 to the lattice's ${lattice.maxPayload} bytes`,
      { hint: 'raise latticeMaxPayloadBytes to serve larger messages' },
    );
  }
  // resolveLimits checks each given value against the range in the limits table.
  const given: Partial<Record<LimitName, number>> = {};
  const pairs: [LimitName, number | undefined][] = [
    ['localEndpointMaxConnections', options.maxConnections],
    ['localEndpointMaxUnauthenticated', options.maxUnauthenticated],
    ['localEndpointMaxSubscriptions', options.maxSubscriptionsPerConnection],
    ['localEndpointMaxControlLineBytes', options.maxControlLineBytes],
    ['localEndpointMaxPendingBytes', options.maxPendingBytes],
    ['localEndpointPingIntervalMs', options.pingIntervalMs],
    ['localEndpointMaxPingsOut', options.maxPingsOut],
    ['localEndpointAuthTimeoutMs', options.authTimeoutMs],
    ['localEndpointMaxWebSocketFrameBytes', options.maxWebSocketFrameBytes],
  ];
  for (const [name, value] of pairs) if (value !== undefined) given[name] = value;
  const limits = resolveLimits(given);
  const sessionLimits: SessionLimits = {
    maxPayload,
    maxControlLine: limits.localEndpointMaxControlLineBytes,
    maxSubscriptions: limits.localEndpointMaxSubscriptions,
    maxPendingBytes: limits.localEndpointMaxPendingBytes,
    pingIntervalMs: limits.localEndpointPingIntervalMs,
    maxPingsOut: limits.localEndpointMaxPingsOut,
    authTimeoutMs: limits.localEndpointAuthTimeoutMs,
  };

  const endpoint = new LocalEndpointImpl(lattice, {
    digest: tokenDigest(options.token),
    limits: sessionLimits,
    maxConnections: limits.localEndpointMaxConnections,
    maxUnauthenticated: limits.localEndpointMaxUnauthenticated,
    maxWebSocketFrameBytes: limits.localEndpointMaxWebSocketFrameBytes,
    onError: options.onError ?? (() => {}),
  });
  await endpoint.listen(host, port);
  return endpoint;
}

interface EndpointConfig {
  readonly digest: Buffer;
  readonly limits: SessionLimits;
  readonly maxConnections: number;
  readonly maxUnauthenticated: number;
  readonly maxWebSocketFrameBytes: number;
  readonly onError: (err: unknown) => void;
}

class LocalEndpointImpl implements LocalEndpoint {
  readonly #lattice: MemoryLattice;
  readonly #config: EndpointConfig;
  readonly #server: Server;
  readonly #sessions = new Set<ClientSession>();
  readonly #authenticated = new Set<ClientSession>();
  /**
   * Connections (TCP sockets, websocket streams) that have not authenticated, oldest first (Map keeps
   * insertion order): waiting for their CONNECT (with their session) or refused and being closed
   * (without one).
   */
  readonly #unauthenticated = new Map<Duplex, ClientSession | undefined>();
  /** Every accepted connection, refused ones included, so close() can end them all. */
  readonly #sockets = new Set<Duplex>();
  readonly #serverId = `CIRRUS${randomBytes(12).toString('hex').toUpperCase()}`;
  #address: AddressInfo | undefined;
  #nextClientId = 1;
  #closed: Promise<void> | undefined;

  constructor(lattice: MemoryLattice, config: EndpointConfig) {
    this.#lattice = lattice;
    this.#config = config;
    this.#server = createServer({ noDelay: true }, (socket) => this.#accept(socket, socket.remoteAddress));
  }

  get host(): string {
    return (this.#address as AddressInfo).address;
  }

  get port(): number {
    return (this.#address as AddressInfo).port;
  }

  get url(): string {
    return `nats://${urlHost(this.host)}:${this.port}`;
  }

  get connectionCount(): number {
    return this.#sessions.size;
  }

  async listen(host: string, port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        if (err.code === 'EADDRINUSE') {
          reject(
            new AddressInUseError(`${host}:${port} is already in use`, {
              hint: 'stop the other program or pick another port (cirrus up --local-port N, or 0 for any)',
              cause: err,
            }),
          );
        } else {
          reject(err);
        }
      };
      this.#server.once('error', onError);
      this.#server.listen({ host, port, exclusive: true }, () => {
        this.#server.off('error', onError);
        resolve();
      });
    });
    this.#address = this.#server.address() as AddressInfo;
    // Errors on the listening socket after bind are rare (e.g. EMFILE on accept) and not fatal.
    this.#server.on('error', (err) => this.#config.onError(err));
  }

  #info(clientId: number, remoteAddress: string | undefined): Record<string, unknown> {
    return {
      server_id: this.#serverId,
      server_name: 'cirrus-local',
      version: SERVER_VERSION,
      proto: 1,
      host: this.host,
      port: this.port,
      headers: true,
      auth_required: true,
      max_payload: this.#config.limits.maxPayload,
      client_id: clientId,
      client_ip: remoteAddress ?? this.host,
    };
  }

  acceptWebSocket(request: IncomingMessage, socket: Duplex, head: Uint8Array): void {
    if (this.#closed !== undefined) {
      refuseUpgrade(socket, 503, 'the lattice endpoint is closed');
      return;
    }
    const check = checkUpgrade(request.method, request.headers);
    if (!check.ok) {
      refuseUpgrade(socket, check.status, check.message, check.headers);
      return;
    }
    if (socket instanceof Socket) socket.setNoDelay(true);
    acceptUpgrade(socket, check.accept);
    const stream = new WebSocketStream(socket, head, {
      maxFrameBytes: this.#config.maxWebSocketFrameBytes,
      // As for a session that closes: one ping interval is what a live client gets to answer.
      closeGraceMs: this.#config.limits.pingIntervalMs,
    });
    this.#accept(stream, request.socket.remoteAddress);
  }

  #accept(socket: Duplex, remoteAddress: string | undefined): void {
    if (this.#closed !== undefined) {
      socket.destroy();
      return;
    }
    if (this.#unauthenticated.size >= this.#config.maxUnauthenticated) this.#dropOldestUnauthenticated();
    this.#sockets.add(socket);
    socket.once('close', () => {
      this.#sockets.delete(socket);
      this.#unauthenticated.delete(socket);
    });
    const clientId = this.#nextClientId++;
    if (this.#authenticated.size >= this.#config.maxConnections) {
      // As nats-server: INFO first (clients expect it), then the refusal. What the client sends is read
      // and dropped, so that its own close is seen and frees the socket before the timer does.
      socket.on('error', () => {});
      socket.resume();
      socket.write(infoLine(this.#info(clientId, remoteAddress)));
      socket.end(errLine(WIRE_SESSION.tooManyConnections));
      this.#unauthenticated.set(socket, undefined);
      const timer = setTimeout(() => socket.destroy(), this.#config.limits.authTimeoutMs).unref();
      socket.once('close', () => clearTimeout(timer));
      return;
    }
    const context: SessionContext = {
      lattice: this.#lattice,
      tokenDigest: this.#config.digest,
      limits: this.#config.limits,
      info: this.#info(clientId, remoteAddress),
      admit: (session) => {
        // Others may have authenticated since this client was accepted.
        if (this.#authenticated.size >= this.#config.maxConnections) return false;
        this.#unauthenticated.delete(socket);
        this.#authenticated.add(session);
        return true;
      },
      onClosed: (session) => {
        this.#sessions.delete(session);
        this.#authenticated.delete(session);
      },
      onError: this.#config.onError,
    };
    const session = new ClientSession(socket, context);
    this.#sessions.add(session);
    this.#unauthenticated.set(socket, session);
  }

  /** Makes room for a new connection; the one dropped is told why if its socket still takes data. */
  #dropOldestUnauthenticated(): void {
    const oldest = this.#unauthenticated.entries().next();
    if (oldest.done === true) return;
    const [socket, session] = oldest.value;
    this.#unauthenticated.delete(socket);
    if (session === undefined) {
      socket.destroy();
      return;
    }
    session.closeWithError(WIRE_SESSION.authTimeout);
    session.destroy();
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      const stopped = new Promise<void>((resolve) => this.#server.close(() => resolve()));
      for (const session of [...this.#sessions]) session.destroy();
      for (const socket of this.#sockets) socket.destroy();
      await stopped;
    })();
    return this.#closed;
  }
}
