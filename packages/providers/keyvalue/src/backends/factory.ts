/**
 * Picks a key-value backend from link or provider config, the string map wasmCloud links carry:
 *
 * - `backend` = `memory` (default): buckets in this host's memory, lost when it stops;
 * - `backend` = `redis`: a Redis server at `url` (default `redis://127.0.0.1:6379`);
 * - `backend` = `nats`: JetStream key-value buckets on the host's lattice connection (on the embedded
 *   lattice, its in-memory KV).
 */
import type { LatticeConnection } from '@cirrus/lattice';
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

const KINDS: readonly BackendKind[] = ['memory', 'redis', 'nats'];

function isKind(value: string): value is BackendKind {
  return (KINDS as readonly string[]).includes(value);
}

export async function createKeyValueBackend(
  config: Readonly<StringMap>,
  deps: KeyValueBackendDeps,
): Promise<KeyValueBackend> {
  const backend = (config['backend'] ?? 'memory').trim().toLowerCase();
  if (!isKind(backend)) {
    throw new InvalidArgumentError(`key-value config backend = ${JSON.stringify(backend)} is not known`, {
      hint: `use one of ${KINDS.join(', ')} (default memory)`,
    });
  }
  switch (backend) {
    case 'memory':
      return createMemoryBackend(deps.limits);
    case 'redis':
      return createRedisBackend({
        url: config['url'] ?? DEFAULT_REDIS_URL,
        limits: deps.limits,
        ...(deps.logger === undefined ? {} : { logger: deps.logger }),
      });
    case 'nats':
      return createNatsBackend(deps.lattice, deps.limits);
  }
}
