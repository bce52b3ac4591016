import { decodeJson, decodeText } from './codec.ts';
import type { KvEntry, KvOperation } from './port.ts';

/** A key-value entry as every adapter reports it: plain fields, so entries from any adapter compare equal. */
export class KvEntryImpl implements KvEntry {
  readonly bucket: string;
  readonly key: string;
  readonly value: Uint8Array;
  readonly revision: number;
  readonly operation: KvOperation;

  constructor(bucket: string, key: string, value: Uint8Array, revision: number, operation: KvOperation) {
    this.bucket = bucket;
    this.key = key;
    this.value = value;
    this.revision = revision;
    this.operation = operation;
  }

  json<T = unknown>(): T {
    return decodeJson<T>(this.value);
  }

  string(): string {
    return decodeText(this.value);
  }
}
