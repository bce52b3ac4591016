import { PayloadTooLargeError } from '@cirrus/protocol';
import { AsyncQueue } from './async-queue.ts';
import { EMPTY } from './codec.ts';
import { KvEntryImpl as Entry } from './kv-entry.ts';
import type { KvBucket, KvEntry, KvWatch, KvWatchOptions } from './port.ts';
import { assertBucketName, assertKvFilter, assertKvKey, assertRevision, subjectMatches } from './subject.ts';

interface Watcher {
  filter: string;
  queue: AsyncQueue<KvEntry>;
}

class MemoryBucket implements KvBucket {
  readonly name: string;
  readonly #entries = new Map<string, Entry>();
  readonly #watchers = new Set<Watcher>();
  readonly #maxValueBytes: number;
  #revision = 0;

  constructor(name: string, maxValueBytes: number) {
    this.name = name;
    this.#maxValueBytes = maxValueBytes;
  }

  async get(key: string): Promise<KvEntry | null> {
    assertKvKey(key);
    return this.#entries.get(key) ?? null;
  }

  async put(key: string, value: Uint8Array): Promise<number> {
    return this.#store(key, value);
  }

  async update(key: string, value: Uint8Array, revision: number): Promise<number | null> {
    assertKvKey(key);
    assertRevision(revision);
    // Check and write happen in one synchronous step, so no other call can slip in between.
    const current = this.#entries.get(key)?.revision ?? 0;
    if (current !== revision) return null;
    return this.#store(key, value);
  }

  #store(key: string, value: Uint8Array): number {
    assertKvKey(key);
    if (value.byteLength > this.#maxValueBytes) {
      throw new PayloadTooLargeError(
        `value of ${value.byteLength} bytes for ${this.name}/${key} exceeds the ${this.#maxValueBytes}-byte limit`,
        { hint: 'store smaller values or raise kvMaxValueBytes' },
      );
    }
    const entry = new Entry(this.name, key, value.slice(), ++this.#revision, 'PUT');
    this.#entries.set(key, entry);
    this.#notify(entry);
    return entry.revision;
  }

  async delete(key: string): Promise<void> {
    assertKvKey(key);
    this.#entries.delete(key);
    this.#notify(new Entry(this.name, key, EMPTY, ++this.#revision, 'DEL'));
  }

  async keys(filter = '>'): Promise<string[]> {
    assertKvFilter(filter);
    return [...this.#entries.keys()].filter((k) => subjectMatches(filter, k));
  }

  async watch(options: KvWatchOptions = {}): Promise<KvWatch> {
    const filter = options.key ?? '>';
    assertKvFilter(filter);
    const watcher: Watcher = { filter, queue: new AsyncQueue<KvEntry>() };
    if (options.replay ?? true) {
      const current = [...this.#entries.values()].filter((e) => subjectMatches(filter, e.key));
      current.sort((a, b) => a.revision - b.revision);
      for (const entry of current) watcher.queue.push(entry);
    }
    this.#watchers.add(watcher);
    return {
      replayed: Promise.resolve(),
      stop: () => {
        this.#watchers.delete(watcher);
        watcher.queue.end();
      },
      [Symbol.asyncIterator]: () => watcher.queue[Symbol.asyncIterator](),
    };
  }

  #notify(entry: Entry): void {
    for (const w of this.#watchers) {
      if (subjectMatches(w.filter, entry.key)) w.queue.push(entry);
    }
  }

  close(): void {
    for (const w of this.#watchers) w.queue.end();
    this.#watchers.clear();
  }
}

export class MemoryKvStore {
  readonly #buckets = new Map<string, MemoryBucket>();
  readonly #maxValueBytes: number;

  constructor(maxValueBytes: number) {
    this.#maxValueBytes = maxValueBytes;
  }

  bucket(name: string): MemoryBucket {
    assertBucketName(name);
    let bucket = this.#buckets.get(name);
    if (bucket === undefined) {
      bucket = new MemoryBucket(name, this.#maxValueBytes);
      this.#buckets.set(name, bucket);
    }
    return bucket;
  }

  close(): void {
    for (const b of this.#buckets.values()) b.close();
  }
}
