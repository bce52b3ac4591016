/**
 * The links a provider knows, as the host delivered them. A link's role follows from the provider's
 * id: the provider is the link's target when components call it, its source when it calls them.
 */
import type { InterfaceLinkDefinition } from '@cirrus/protocol';

export type LinkRole = 'source' | 'target';

/** (source, namespace, package, name): how 1.x identifies a link for deletion. */
function deletionKey(
  link: Pick<InterfaceLinkDefinition, 'source_id' | 'wit_namespace' | 'wit_package' | 'name'>,
): string {
  return JSON.stringify([link.source_id, link.wit_namespace, link.wit_package, link.name]);
}

export class LinkTable {
  readonly #providerId: string;
  readonly #links = new Map<string, InterfaceLinkDefinition>();

  constructor(providerId: string) {
    this.#providerId = providerId;
  }

  /** The roles the provider plays in `link`; none when the link does not concern it. */
  roles(link: InterfaceLinkDefinition): LinkRole[] {
    const roles: LinkRole[] = [];
    if (link.source_id === this.#providerId) roles.push('source');
    if (link.target === this.#providerId) roles.push('target');
    return roles;
  }

  /** Records or replaces a link; returns its roles (empty: not recorded). */
  put(link: InterfaceLinkDefinition): LinkRole[] {
    const roles = this.roles(link);
    if (roles.length > 0) this.#links.set(deletionKey(link), link);
    return roles;
  }

  /**
   * Forgets the link with the identity of `link` (its config is ignored; a delete carries none) and
   * returns the one that was recorded.
   */
  delete(link: InterfaceLinkDefinition): InterfaceLinkDefinition | undefined {
    const key = deletionKey(link);
    const known = this.#links.get(key);
    if (known === undefined) return undefined;
    if (link.target !== '' && link.target !== known.target) return undefined;
    this.#links.delete(key);
    return known;
  }

  /** The link through which `sourceId` calls this provider on `namespace:package` under `name`. */
  asTarget(
    sourceId: string,
    name: string,
    namespace: string,
    pkg: string,
  ): InterfaceLinkDefinition | undefined {
    const link = this.#links.get(
      deletionKey({ source_id: sourceId, wit_namespace: namespace, wit_package: pkg, name }),
    );
    return link?.target === this.#providerId ? link : undefined;
  }

  all(): InterfaceLinkDefinition[] {
    return [...this.#links.values()];
  }
}
