export type { BackendKind, KeyPage, KeyValueBackend } from './backend.ts';
export { backendSpec, createKeyValueBackend } from './factory.ts';
export type { BackendSpec, KeyValueBackendDeps, NatsServerSpec } from './factory.ts';
export { createMemoryBackend } from './memory.ts';
export { createNatsBackend } from './nats.ts';
export { createRedisBackend, DEFAULT_REDIS_URL } from './redis.ts';
export type { RedisBackendOptions } from './redis.ts';
