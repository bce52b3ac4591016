/**
 * Picks a key-value backend from link or provider config, the string map wasmCloud links carry:
 *
 * - `backend` = `memory` (default): buckets in this host's memory, lost when it stops;
 * - `backend` = `redis`: a Redis server at `url` (default `redis://127.0.0.1:6379`);
 * - `backend` = `nats`: JetStream key-value buckets on the host's lattice connection (on the embedded
 *   lattice, its in-memory KV).
 *
 * Config is read into a `BackendSpec` first, so that config in other keys (those of wasmCloud's
 * providers) can ask for the same backends, and for what the built-in's own keys do not offer.
 */
import type { LatticeConnection } from '@cirrus/lattice';
import { connectNats } from '@cirrus/lattice-nats';
import type { Limits, Logger, StringMap } from '@cirrus/protocol';
import { InvalidArgumentError } from '@cirrus/protocol';
import type { BackendKind, KeyValueBackend } from './backend.ts';
import { createMemoryBackend } from './memory.ts';
import { createNatsBackend } from './nats.ts';
import { createRedisBackend, DEFAULT_REDIS_URL } from './redis.ts';

export interface KeyValueBackendDeps {
  /** The host's lattice connection, used by the nats backend. */
  lattice: LatticeConnection;
  limits: Limits;
  /** Where the redis backend reports losing and regaining its server. */
  logger?: Logger;
}

/** A NATS server the backend connects to itself, instead of using the host's lattice connection. */
export interface NatsServerSpec {
  /** One server URL, or several of one cluster separated by commas. */
  readonly servers: string;
  /** A decentralised-auth user JWT and the seed that signs for it. */
  readonly credentials?: { readonly jwt: string; readonly seed: string };
  /** PEM file of the CA that signed the server's certificate. */
  readonly caFile?: string;
  readonly jsDomain?: string;
}

/** Which backend serves a link, and where it keeps its data; equal specs share one backend. */
export type BackendSpec =
  | { readonly kind: 'memory' }
  | { readonly kind: 'redis'; readonly url: string; readonly prefixKeys: boolean }
  | { readonly kind: 'nats'; readonly server?: NatsServerSpec };

const KINDS: readonly BackendKind[] = ['memory', 'redis', 'nats'];

function isKind(value: string): value is BackendKind {
  return (KINDS as readonly string[]).includes(value);
}

/** The backend that config in the built-in's own keys (`backend`, `url`) asks for. */
export function backendSpec(config: Readonly<StringMap>): BackendSpec {
  const backend = (config['backend'] ?? 'memory').trim().toLowerCase();
  if (!isKind(backend)) {
    throw new InvalidArgumentError(`key-value config backend = ${JSON.stringify(backend)} is not known`, {
      hint: `use one of ${KINDS.join(', ')} (default memory)`,
    });
  }
  switch (backend) {
    case 'memory':
      return { kind: 'memory' };
    case 'redis':
      return { kind: 'redis', url: config['url'] ?? DEFAULT_REDIS_URL, prefixKeys: true };
    case 'nats':
      return { kind: 'nats' };
  }
}

export async function createKeyValueBackend(
  spec: BackendSpec,
  deps: KeyValueBackendDeps,
): Promise<KeyValueBackend> {
  switch (spec.kind) {
    case 'memory':
      return createMemoryBackend(deps.limits);
    case 'redis':
      return createRedisBackend({
        url: spec.url,
        prefixKeys: spec.prefixKeys,
        limits: deps.limits,
        ...(deps.logger === undefined ? {} : { logger: deps.logger }),
      });
    case 'nats': {
      const server = spec.server;
      if (server === undefined) return createNatsBackend(deps.lattice, deps.limits);
      const connection = await connectNats({
        servers: server.servers,
        name: 'Cirrus key-value provider',
        label: 'key-value NATS connection',
        limits: deps.limits,
        credentials: server.credentials && {
          type: 'jwt',
          ...server.credentials,
          source: 'the key-value link config',
        },
        tls: server.caFile === undefined ? undefined : { caFile: server.caFile },
        jsDomain: server.jsDomain,
      });
      return createNatsBackend(connection, deps.limits, { ownsConnection: true });
    }
  }
}
