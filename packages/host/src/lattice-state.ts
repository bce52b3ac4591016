/**
 * Shared lattice state in the 1.x layout: link specs (`COMPONENT_<id>` in `LATTICEDATA_<lattice>`) and
 * named config (`CONFIGDATA_<lattice>`). Every host watches both buckets (replay, then live), so a
 * host that did not handle a change still learns it; writes wait until this host's own watch has
 * applied them, so callers read their own writes.
 */
import {
  CLAIMS_KEY_PREFIX,
  COMPONENT_SPEC_KEY_PREFIX,
  ConfigNotFoundError,
  componentSpecKey,
  configDataBucket,
  flattenStoredClaims,
  latticeDataBucket,
  LinkConflictError,
  sameLinkIdentity,
} from '@cirrus/protocol';
import type {
  ComponentSpecification,
  Link,
  Logger,
  StoredComponentClaims,
  StringMap,
} from '@cirrus/protocol';
import { encodeJson } from '@cirrus/lattice';
import type { KvBucket, KvEntry, KvWatch, LatticeConnection } from '@cirrus/lattice';

export interface LinkChange {
  added: Link[];
  removed: Link[];
}

export type LinkListener = (change: LinkChange) => Promise<void> | void;
export type ConfigListener = (name: string) => Promise<void> | void;

export interface LinkDeletion {
  source_id: string;
  name: string;
  wit_namespace: string;
  wit_package: string;
}

export interface Written<T> {
  result: T;
  applied: Promise<void>;
}

export interface DeleteOutcome {
  specExisted: boolean;
  removed: Link | undefined;
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

function sameLinkFields(a: Link, b: Link): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function parseSpec(entry: KvEntry, logger: Logger): ComponentSpecification | undefined {
  try {
    const spec = entry.json<Partial<ComponentSpecification>>();
    return {
      url: typeof spec.url === 'string' ? spec.url : '',
      links: Array.isArray(spec.links) ? spec.links : [],
    };
  } catch (err) {
    logger.warn('ignoring unreadable component spec', { key: entry.key, error: String(err) });
    return undefined;
  }
}

export class LatticeState {
  readonly #data: KvBucket;
  readonly #config: KvBucket;
  readonly #logger: Logger;
  readonly #links = new Map<string, Link[]>();
  /** Links (as JSON) that a listener refused when they arrived. */
  readonly #failedLinks = new Set<string>();
  /** Failed links put again through this host: their next failure goes back to the caller. */
  readonly #retryRequested = new Set<string>();
  /** `CLAIMS_<subject>` entries, already in the flat form `claims.get` replies with. */
  readonly #claims = new Map<string, StringMap>();
  readonly #linkListeners = new Set<LinkListener>();
  readonly #configListeners = new Set<ConfigListener>();
  readonly #watches: KvWatch[] = [];
  readonly #applied = new Map<
    string,
    { revision: number; waiters: { revision: number; done: (err?: unknown) => void }[] }
  >();
  #specLock: Promise<void> = Promise.resolve();

  private constructor(data: KvBucket, config: KvBucket, logger: Logger) {
    this.#data = data;
    this.#config = config;
    this.#logger = logger;
  }

  static async open(conn: LatticeConnection, lattice: string, logger: Logger): Promise<LatticeState> {
    const [data, config] = await Promise.all([
      conn.kv(latticeDataBucket(lattice)),
      conn.kv(configDataBucket(lattice)),
    ]);
    const state = new LatticeState(data, config, logger);
    await state.#startWatches();
    return state;
  }

  async #startWatches(): Promise<void> {
    const dataWatch = await this.#data.watch();
    const configWatch = await this.#config.watch({ replay: false });
    this.#watches.push(dataWatch, configWatch);
    void this.#consume(dataWatch, (entry) => this.#onDataEntry(entry), this.#data.name);
    void this.#consume(configWatch, (entry) => this.#onConfigEntry(entry), this.#config.name);
    await dataWatch.replayed;
  }

  async #consume(watch: KvWatch, apply: (entry: KvEntry) => Promise<unknown>, bucket: string): Promise<void> {
    for await (const entry of watch) {
      let failure: unknown;
      try {
        await apply(entry);
      } catch (err) {
        failure = err;
      }
      this.#markApplied(bucket, entry.revision, failure);
    }
  }

  async #onDataEntry(entry: KvEntry): Promise<void> {
    if (entry.key.startsWith(CLAIMS_KEY_PREFIX)) {
      this.#onClaimsEntry(entry);
      return;
    }
    if (!entry.key.startsWith(COMPONENT_SPEC_KEY_PREFIX)) return;
    const sourceId = entry.key.slice(COMPONENT_SPEC_KEY_PREFIX.length);
    const before = this.#links.get(sourceId) ?? [];
    let after: Link[] = [];
    if (entry.operation === 'PUT') {
      const spec = parseSpec(entry, this.#logger);
      if (spec === undefined) return;
      after = spec.links.filter((l) => l.source_id === sourceId);
    }
    if (after.length === 0) this.#links.delete(sourceId);
    else this.#links.set(sourceId, after);
    const removed = before.filter((old) => !after.some((l) => sameLinkFields(l, old)));
    const added = after.filter((l) => !before.some((old) => sameLinkFields(l, old)));
    for (const link of removed) this.#failedLinks.delete(JSON.stringify(link));
    // Links this host failed to apply earlier (say, their port was taken) are retried with every
    // change of the spec; their errors only reach the caller who put that same link again.
    const retried = after.filter((l) => this.#failedLinks.has(JSON.stringify(l)) && !added.includes(l));
    const errors: unknown[] = [];
    if (removed.length > 0) {
      for (const error of await this.#notifyLinks({ added: [], removed })) errors.push(error);
    }
    for (const link of [...added, ...retried]) {
      const key = JSON.stringify(link);
      const linkErrors = await this.#notifyLinks({ added: [link], removed: [] });
      if (linkErrors.length === 0) {
        this.#failedLinks.delete(key);
        continue;
      }
      this.#failedLinks.add(key);
      if (added.includes(link) || this.#retryRequested.delete(key)) errors.push(...linkErrors);
      else this.#logger.warn('link still cannot be applied', { source: link.source_id, target: link.target });
    }
    if (errors.length > 0) throw errors[0];
  }

  #onClaimsEntry(entry: KvEntry): void {
    if (entry.operation === 'DEL') {
      this.#claims.delete(entry.key);
      return;
    }
    let flat: StringMap | undefined;
    try {
      flat = flattenStoredClaims(entry.json());
    } catch {
      flat = undefined;
    }
    // Another host (or version) wrote something we cannot read: keep serving the rest.
    if (flat === undefined) {
      this.#claims.delete(entry.key);
      this.#logger.warn('ignoring unreadable stored claims', { key: entry.key });
      return;
    }
    this.#claims.set(entry.key, flat);
  }

  /** Claims stored in the lattice (components and providers), flat as `claims.get` sends them. */
  claims(): StringMap[] {
    return [...this.#claims.values()].map((c) => ({ ...c }));
  }

  async #notifyLinks(change: LinkChange): Promise<unknown[]> {
    const errors: unknown[] = [];
    for (const listener of this.#linkListeners) {
      try {
        await listener(change);
      } catch (err) {
        errors.push(err);
      }
    }
    return errors;
  }

  async #onConfigEntry(entry: KvEntry): Promise<void> {
    for (const listener of this.#configListeners) await listener(entry.key);
  }

  #markApplied(bucket: string, revision: number, failure: unknown): void {
    let state = this.#applied.get(bucket);
    if (state === undefined) {
      state = { revision: 0, waiters: [] };
      this.#applied.set(bucket, state);
    }
    state.revision = Math.max(state.revision, revision);
    const ready = state.waiters.filter((w) => w.revision <= revision);
    state.waiters = state.waiters.filter((w) => w.revision > revision);
    for (const w of ready) w.done(w.revision === revision ? failure : undefined);
  }

  /** Resolves once this host's watch has processed `revision` (rejects with a listener's error). */
  #whenApplied(bucket: string, revision: number): Promise<void> {
    const state = this.#applied.get(bucket);
    if (state !== undefined && state.revision >= revision) return Promise.resolve();
    return new Promise((resolve, reject) => {
      let s = this.#applied.get(bucket);
      if (s === undefined) {
        s = { revision: 0, waiters: [] };
        this.#applied.set(bucket, s);
      }
      s.waiters.push({ revision, done: (err) => (err === undefined ? resolve() : reject(asError(err))) });
    });
  }

  onLinksChanged(listener: LinkListener): () => void {
    this.#linkListeners.add(listener);
    return () => this.#linkListeners.delete(listener);
  }

  onConfigChanged(listener: ConfigListener): () => void {
    this.#configListeners.add(listener);
    return () => this.#configListeners.delete(listener);
  }

  // --- named config ------------------------------------------------------------------------------

  async getConfig(name: string): Promise<StringMap | undefined> {
    const entry = await this.#config.get(name);
    return entry === null ? undefined : entry.json<StringMap>();
  }

  async putConfig(name: string, values: StringMap): Promise<void> {
    const revision = await this.#config.put(name, encodeJson(values));
    await this.#whenApplied(this.#config.name, revision);
  }

  async deleteConfig(name: string): Promise<void> {
    await this.#config.delete(name);
  }

  configNames(): Promise<string[]> {
    return this.#config.keys();
  }

  /** Merges named configs in order (later names win); throws CONFIG_NOT_FOUND for a missing name. */
  async resolveConfig(names: readonly string[]): Promise<StringMap> {
    const merged: StringMap = {};
    for (const name of names) {
      const values = await this.getConfig(name);
      if (values === undefined) {
        throw new ConfigNotFoundError(`named config ${JSON.stringify(name)} does not exist`, {
          hint: `create it first: cirrus config put ${name} key=value`,
        });
      }
      Object.assign(merged, values);
    }
    return merged;
  }

  // --- specs and links ---------------------------------------------------------------------------

  links(): Link[] {
    return [...this.#links.values()].flat();
  }

  linksFrom(sourceId: string): Link[] {
    return this.#links.get(sourceId) ?? [];
  }

  /** Links where `id` is the source or the target. */
  linksInvolving(id: string): Link[] {
    return this.links().filter((l) => l.source_id === id || l.target === id);
  }

  /** Read-modify-write of one spec under a lock; `applied` settles when this host's watch applied it. */
  async #withSpec<T>(
    id: string,
    change: (spec: ComponentSpecification | undefined) => { spec?: ComponentSpecification; result: T },
  ): Promise<Written<T>> {
    const run = async (): Promise<Written<T>> => {
      const key = componentSpecKey(id);
      const entry = await this.#data.get(key);
      const current = entry === null ? undefined : parseSpec(entry, this.#logger);
      const { spec, result } = change(current);
      if (spec === undefined) return { result, applied: Promise.resolve() };
      const revision = await this.#data.put(key, encodeJson(spec));
      return { result, applied: this.#whenApplied(this.#data.name, revision) };
    };
    const next = this.#specLock.then(run, run);
    this.#specLock = next.then(
      () => undefined,
      () => undefined,
    );
    return next;
  }

  /**
   * Stores a signed component's claims under `CLAIMS_<subject>`, as a 1.x host does when it starts
   * one, for `claims.get`. Resolves once this host's own watch has them.
   */
  async putClaims(claims: StoredComponentClaims): Promise<void> {
    const revision = await this.#data.put(`${CLAIMS_KEY_PREFIX}${claims.subject}`, encodeJson(claims));
    await this.#whenApplied(this.#data.name, revision);
  }

  /** Writes `{url, links: []}` for a component or provider that has no spec yet. */
  async ensureSpec(id: string, url: string): Promise<void> {
    const written = await this.#withSpec(id, (current) =>
      current === undefined ? { spec: { url, links: [] }, result: undefined } : { result: undefined },
    );
    await written.applied;
  }

  /**
   * Validates and stores a link. Resolves once it is stored; `applied` then settles when this host
   * has applied it (rejecting if a local provider refused it, e.g. an address already in use).
   */
  async putLink(link: Link): Promise<Written<undefined>> {
    const missing: string[] = [];
    for (const name of [...link.source_config, ...link.target_config]) {
      if ((await this.#config.get(name)) === null) missing.push(name);
    }
    if (missing.length > 0) {
      throw new ConfigNotFoundError(
        `link refers to named config that does not exist: ${missing.join(', ')}`,
        {
          hint: `create it first: cirrus config put ${missing[0] ?? 'NAME'} key=value`,
        },
      );
    }
    const key = JSON.stringify(link);
    if (this.#failedLinks.has(key)) this.#retryRequested.add(key);
    return this.#withSpec(link.source_id, (current) => {
      const spec = current ?? { url: '', links: [] };
      const clash = spec.links.find(
        (l) =>
          l.wit_namespace === link.wit_namespace &&
          l.wit_package === link.wit_package &&
          l.name === link.name &&
          l.target !== link.target &&
          l.interfaces.some((i) => link.interfaces.includes(i)),
      );
      if (clash !== undefined) {
        throw new LinkConflictError(
          `${link.source_id} already links ${link.wit_namespace}:${link.wit_package} (name "${link.name}") to ${clash.target}`,
          { hint: `delete that link first, or give this one another link name` },
        );
      }
      const links = spec.links.filter((l) => !sameLinkIdentity(l, link));
      links.push(link);
      return { spec: { url: spec.url, links }, result: undefined };
    });
  }

  async deleteLink(target: LinkDeletion): Promise<DeleteOutcome> {
    const written = await this.#withSpec<DeleteOutcome>(target.source_id, (current) => {
      if (current === undefined) return { result: { specExisted: false, removed: undefined } };
      const index = current.links.findIndex(
        (l) =>
          l.source_id === target.source_id &&
          l.name === target.name &&
          l.wit_namespace === target.wit_namespace &&
          l.wit_package === target.wit_package,
      );
      const removed = index === -1 ? undefined : current.links[index];
      const links = current.links.filter((_, i) => i !== index);
      return { spec: { url: current.url, links }, result: { specExisted: true, removed } };
    });
    await written.applied;
    return written.result;
  }

  close(): void {
    for (const w of this.#watches) w.stop();
  }
}
