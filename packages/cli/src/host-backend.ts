/**
 * Where a host started by `cirrus up` or `cirrus dev` lives: a NATS lattice, or the embedded one,
 * which the local endpoint serves to other programs on this machine.
 */
import { createMemoryLattice, serveKv } from '@cirrus/lattice';
import type { LatticeConnection, MemoryLattice } from '@cirrus/lattice';
import { serveLattice } from '@cirrus/local-endpoint';
import type { LocalEndpoint } from '@cirrus/local-endpoint';
import type { Host } from '@cirrus/host';
import type { Limits } from '@cirrus/protocol';
import type { CommandContext } from './context.ts';
import { connectHostNats } from './nats-flags.ts';
import type { HostNatsSettings } from './nats-flags.ts';
import { newToken, writeLocalEndpoint } from './local-endpoint.ts';
import type { LocalEndpointRemover } from './local-endpoint.ts';

/** Where the host lives:  a NATS lattice, or the embedded one (which other processes reach locally). */
export interface Backend {
  connection: LatticeConnection;
  /** A connection for control traffic of its own (`--ctl-…` settings differing from `--rpc-…`). */
  control?: LatticeConnection | undefined;
  embedded: MemoryLattice | undefined;
  close(): Promise<void>;
}

export async function openBackend(
  nats: HostNatsSettings | undefined,
  limits: Limits,
  name: string | undefined,
): Promise<Backend> {
  if (nats !== undefined) {
    const { rpc, control, close } = await connectHostNats(nats, limits, name);
    let closed: Promise<void> | undefined;
    return { connection: rpc, control, embedded: undefined, close: () => (closed ??= close()) };
  }
  const lattice = createMemoryLattice({
    maxPayload: limits.latticeMaxPayloadBytes,
    maxValueBytes: limits.kvMaxValueBytes,
    requestTimeoutMs: limits.latticeRequestTimeoutMs,
  });
  let closed: Promise<void> | undefined;
  return { connection: lattice.connect(), embedded: lattice, close: () => (closed ??= lattice.close()) };
}

export interface LocalEndpointHandle {
  readonly url: string;
  /** The URL with the token in it, for provider processes this host starts (never logged). */
  readonly providerUrl: string;
  /** The token clients present (never logged): browser hosts of a dashboard session are given it. */
  readonly token: string;
  /** Serves a websocket upgrade of another server (the dashboard's) as a client of the endpoint. */
  readonly acceptWebSocket: LocalEndpoint['acceptWebSocket'];
  close(): Promise<void>;
}

/**
 * Serves the embedded lattice to other processes on this machine (loopback, token in a user-only
 * file), so `cirrus get …` in another terminal reaches this host without a NATS server, and to
 * browser tabs over the dashboard's websocket. The lattice has no JetStream, so its key-value
 * buckets are served over lattice requests too (`$CIRRUS.KV`), for hosts that join through it.
 */
export async function openLocalEndpoint(
  lattice: MemoryLattice,
  host: Host,
  port: number,
  limits: Limits,
  context: CommandContext,
  onError: (err: unknown) => void,
): Promise<LocalEndpointHandle> {
  const token = newToken();
  const endpoint: LocalEndpoint = await serveLattice(lattice, {
    port,
    token,
    maxPayload: limits.latticeMaxPayloadBytes,
    maxConnections: limits.localEndpointMaxConnections,
    maxUnauthenticated: limits.localEndpointMaxUnauthenticated,
    maxSubscriptionsPerConnection: limits.localEndpointMaxSubscriptions,
    maxControlLineBytes: limits.localEndpointMaxControlLineBytes,
    maxPendingBytes: limits.localEndpointMaxPendingBytes,
    pingIntervalMs: limits.localEndpointPingIntervalMs,
    maxPingsOut: limits.localEndpointMaxPingsOut,
    authTimeoutMs: limits.localEndpointAuthTimeoutMs,
    onError,
  });
  const kv = serveKv(lattice);
  let remove: LocalEndpointRemover;
  try {
    remove = await writeLocalEndpoint(context.env, {
      url: endpoint.url,
      token,
      lattice: host.latticeName,
      hostId: host.id,
      pid: process.pid,
    });
  } catch (err) {
    await Promise.all([endpoint.close(), kv.close()]);
    throw err;
  }
  let closed: Promise<void> | undefined;
  const providerUrl = new URL(endpoint.url);
  providerUrl.username = token;
  return {
    url: endpoint.url,
    providerUrl: providerUrl.href,
    token,
    acceptWebSocket: (request, socket, head) => endpoint.acceptWebSocket(request, socket, head),
    close: () => (closed ??= Promise.all([endpoint.close(), kv.close(), remove()]).then(() => undefined)),
  };
}
