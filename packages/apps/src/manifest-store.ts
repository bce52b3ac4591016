/**
 * Application versions in the `wadm_manifests` bucket, in wadm 0.2x's layout so that its clients read
 * them: key `<lattice>-<name>` holds `{"manifests":{"<version>":<manifest>,…},"deployed_version":…}`
 * (versions in the order they were put) and key `<lattice>` the names. Every write is a
 * compare-and-swap, so managers on several hosts never lose each other's writes.
 */
import { KvConflictError } from '@cirrus/protocol';
import type { KvBucket } from '@cirrus/lattice';

export const MANIFEST_BUCKET = 'wadm_manifests';

/** A manifest as stored: the OAM document, as JSON. */
export type StoredManifest = Record<string, unknown>;

export interface StoredApp {
  manifests: Record<string, StoredManifest>;
  deployed_version: string | null;
}

const encoder = new TextEncoder();
const encode = (value: unknown): Uint8Array => encoder.encode(JSON.stringify(value));

/** Attempts at a compare-and-swap before giving up: only a storm of writers to one key needs more. */
const ATTEMPTS = 32;

export class ManifestStore {
  readonly #kv: KvBucket;
  readonly #lattice: string;

  constructor(kv: KvBucket, lattice: string) {
    this.#kv = kv;
    this.#lattice = lattice;
  }

  async names(): Promise<string[]> {
    const entry = await this.#kv.get(this.#lattice);
    return entry === null || entry.value.length === 0 ? [] : entry.json<string[]>();
  }

  async get(name: string): Promise<StoredApp | undefined> {
    const entry = await this.#kv.get(this.#key(name));
    return entry === null || entry.value.length === 0 ? undefined : entry.json<StoredApp>();
  }

  /**
   * Changes one application with `change` (given undefined when it has none yet; returning undefined
   * deletes it), retried on a concurrent write. Returns what `change` returned.
   */
  async update(
    name: string,
    change: (current: StoredApp | undefined) => StoredApp | undefined,
  ): Promise<StoredApp | undefined> {
    for (let attempt = 0; attempt < ATTEMPTS; attempt += 1) {
      const entry = await this.#kv.get(this.#key(name));
      const current = entry === null || entry.value.length === 0 ? undefined : entry.json<StoredApp>();
      const next = change(current === undefined ? undefined : structuredClone(current));
      if (next === undefined) {
        if (entry !== null) await this.#kv.delete(this.#key(name));
        await this.#updateNames((names) => names.filter((n) => n !== name));
        return undefined;
      }
      if ((await this.#kv.update(this.#key(name), encode(next), entry?.revision ?? 0)) !== null) {
        await this.#updateNames((names) => (names.includes(name) ? names : [...names, name].sort()));
        return next;
      }
    }
    throw new KvConflictError(`application ${name} kept changing under ${ATTEMPTS} attempts to write it`, {
      hint: 'try again; something else writes the same application in a tight loop',
    });
  }

  async #updateNames(change: (names: string[]) => string[]): Promise<void> {
    for (let attempt = 0; attempt < ATTEMPTS; attempt += 1) {
      const entry = await this.#kv.get(this.#lattice);
      const current = entry === null || entry.value.length === 0 ? [] : entry.json<string[]>();
      const next = change(current);
      if (next.length === current.length && next.every((n, i) => n === current[i])) return;
      if ((await this.#kv.update(this.#lattice, encode(next), entry?.revision ?? 0)) !== null) return;
    }
    throw new KvConflictError(`the application list of lattice ${this.#lattice} kept changing`, {
      hint: 'try again',
    });
  }

  #key(name: string): string {
    return `${this.#lattice}-${name}`;
  }
}
