/**
 * The building blocks every adapter of the port shares, for adapters that live in packages of their
 * own (`@cirrus/lattice-nats`, `@cirrus/local-endpoint`): the same subject checks, message and entry
 * classes and queue make an adapter behave as the in-memory one does, down to its error codes.
 */
export { AsyncQueue } from './async-queue.ts';
export { KvEntryImpl } from './kv-entry.ts';
export { ReplyableMsg } from './message.ts';
export {
  assertBucketName,
  assertKvFilter,
  assertKvKey,
  assertPublishSubject,
  assertRevision,
  subscriptionTokens,
} from './subject.ts';
