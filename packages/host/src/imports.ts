/**
 * Routes a component's linked imports: the interface `ns:pkg/iface` resolves through the links whose
 * source is the component (by namespace, package, interface and link name), and the call goes to the
 * link's target. A target on this host is called in-process; without a link the call fails at once
 * with LINK_NOT_FOUND and nothing goes out on the lattice.
 */
import { ImportFailedError, LinkNotFoundError } from '@cirrus/protocol';
import type { Link, Logger, StringMap } from '@cirrus/protocol';
import type { ImportCall, ImportHandler } from '@cirrus/runtime';
import type { LatticeState } from './lattice-state.ts';
import type { ImportSource } from './providers/types.ts';

/** Where the router finds in-process targets (providers and, later, components of this host). */
export interface ImportTargets {
  /** Serves the call if `targetId` runs on this host and serves imports; undefined otherwise. */
  serveImport(targetId: string, call: ImportCall, source: ImportSource): Promise<unknown> | undefined;
}

export interface ImportRouterOptions {
  state: LatticeState;
  targets: ImportTargets;
  logger: Logger;
  /** The merged named config of a component running on this host. */
  componentConfig(componentId: string): Promise<StringMap>;
  /** Serves the call from a target on another host (wRPC), when the interface can cross hosts. */
  remote?(targetId: string, call: ImportCall, source: ImportSource): Promise<unknown> | undefined;
}

const DEFAULT_LINK_NAME = 'default';

export function splitInterface(name: string): { namespace: string; pkg: string; iface: string } {
  const colon = name.indexOf(':');
  const slash = name.indexOf('/', colon);
  return { namespace: name.slice(0, colon), pkg: name.slice(colon + 1, slash), iface: name.slice(slash + 1) };
}

export class ImportRouter {
  readonly #options: ImportRouterOptions;
  /** `component|interface` pairs already reported missing, so a hot loop logs once. */
  readonly #reported = new Set<string>();

  constructor(options: ImportRouterOptions) {
    this.#options = options;
  }

  /** The import handler for one component's instances. */
  handlerFor(componentId: string): ImportHandler {
    return (call) => this.#route(componentId, call);
  }

  /** The link a component's import resolves through, if any. */
  resolve(componentId: string, interfaceName: string, linkName = DEFAULT_LINK_NAME): Link | undefined {
    const { namespace, pkg, iface } = splitInterface(interfaceName);
    return this.#options.state
      .linksFrom(componentId)
      .find(
        (l) =>
          l.name === linkName &&
          l.wit_namespace === namespace &&
          l.wit_package === pkg &&
          l.interfaces.includes(iface),
      );
  }

  async #route(componentId: string, call: ImportCall): Promise<unknown> {
    const link = this.resolve(componentId, call.interface);
    if (link === undefined) throw this.#missing(componentId, call.interface);
    const source: ImportSource = {
      sourceId: componentId,
      linkName: link.name,
      componentConfig: () => this.#options.componentConfig(componentId),
    };
    const served = this.#options.targets.serveImport(link.target, call, source);
    if (served !== undefined) return served;
    const remote = this.#options.remote?.(link.target, call, source);
    if (remote === undefined) {
      throw new ImportFailedError(
        `${componentId} calls ${call.interface} on ${link.target}, which does not run on this host`,
        {
          hint: `start ${link.target} on this host; across hosts only wasi:keyvalue is served so far`,
        },
      );
    }
    return remote;
  }

  #missing(componentId: string, interfaceName: string): LinkNotFoundError {
    const { namespace, pkg, iface } = splitInterface(interfaceName);
    const key = `${componentId}|${interfaceName}`;
    const hint = `add one: cirrus link put ${componentId} <target> ${namespace} ${pkg} --interface ${iface}`;
    const err = new LinkNotFoundError(
      `${componentId} has no link for ${interfaceName} (link name "${DEFAULT_LINK_NAME}")`,
      { hint },
    );
    if (!this.#reported.has(key)) {
      this.#reported.add(key);
      this.#options.logger.warn('import without a link', {
        component: componentId,
        interface: interfaceName,
        hint,
      });
    }
    return err;
  }
}
