/**
 * The built-in config provider: serves `wasi:config` 0.2.0-draft to the components linked to it.
 * wasmCloud 1.x components import it under two names: `runtime` (the older draft, error variant
 * `config-error`) and `store` (the newer one, error variant `error`). Both have the same functions
 * and the same variant cases, so jco hands them over identically and one implementation serves both.
 *
 * What a component reads is its own merged named config (what it was scaled with), with the target
 * config of the link it called through layered on top: a link can add keys or override the
 * component's, so one component can run with different settings per link name.
 */
import { describeError } from '@cirrus/protocol';
import type { StringMap } from '@cirrus/protocol';
import type {
  BuiltinProvider,
  CapabilityProvider,
  ExportHandlers,
  ImportSource,
  ResolvedLink,
} from '@cirrus/provider-core';

/** `config-error` (runtime) and `error` (store), as jco represents the variant. */
type ConfigError = { tag: 'upstream'; val: string } | { tag: 'io'; val: string };

type Result<T> = { tag: 'ok'; val: T } | { tag: 'err'; val: ConfigError };

function linkKey(sourceId: string, linkName: string): string {
  return `${sourceId}|${linkName}`;
}

class ConfigProvider implements CapabilityProvider {
  /** Target config of each link to this provider, by `source|link name`. */
  readonly #links = new Map<string, StringMap>();

  async receiveLinkAsTarget(link: ResolvedLink): Promise<void> {
    this.#links.set(linkKey(link.source_id, link.name), link.target_config);
  }

  async deleteLinkAsTarget(link: ResolvedLink): Promise<void> {
    this.#links.delete(linkKey(link.source_id, link.name));
  }

  readonly exports: ExportHandlers<ImportSource>;

  constructor() {
    const store = {
      get: (source: ImportSource, key: string) =>
        this.#read(source, (config) => (Object.hasOwn(config, key) ? config[key] : undefined)),
      'get-all': (source: ImportSource) =>
        this.#read(source, (config) =>
          Object.entries(config).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        ),
    };
    this.exports = { 'wasi:config/runtime': store, 'wasi:config/store': store };
  }

  async #read<T>(source: ImportSource, pick: (config: StringMap) => T): Promise<Result<T>> {
    let own: StringMap;
    try {
      own = await source.componentConfig();
    } catch (err) {
      // The named config lives in the lattice's config store: its failure is the draft's `upstream`.
      return { tag: 'err', val: { tag: 'upstream', val: describeError(err) } };
    }
    const fromLink = this.#links.get(linkKey(source.sourceId, source.linkName)) ?? {};
    return { tag: 'ok', val: pick({ ...own, ...fromLink }) };
  }

  async shutdown(): Promise<void> {
    this.#links.clear();
  }
}

export const configProvider: BuiltinProvider = {
  name: 'Config',
  async start() {
    return new ConfigProvider();
  },
};
