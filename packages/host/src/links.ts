/**
 * Which link a component's import goes through: the links whose source is the component, matched by
 * namespace, package, interface and link name (`default`, unless the guest picked another for its
 * current call with `wasmcloud:bus/lattice`). Without one the call fails at once with LINK_NOT_FOUND,
 * and the host says once which link to add.
 */
import { ImportFailedError, LinkNotFoundError } from '@cirrus/protocol';
import type { Link, Logger } from '@cirrus/protocol';
import { HostResource } from '@cirrus/runtime';
import type { ImportCall } from '@cirrus/runtime';
import type { LatticeState } from './lattice-state.ts';

const DEFAULT_LINK_NAME = 'default';
/**
 * Interfaces a link names implicitly: 1.x routes every wasi:blobstore call through the `blobstore`
 * interface, so its manifests link `interfaces: [blobstore]` only, and container and value methods
 * must follow that link.
 */
const COVERED_BY: ReadonlyMap<string, string> = new Map([
  ['wasi:blobstore/container', 'blobstore'],
  ['wasi:blobstore/types', 'blobstore'],
]);
/** Invocations whose link-name choices are remembered; older ones are forgotten first. */
const MAX_REMEMBERED_INVOCATIONS = 4096;

interface CallTargetInterface {
  namespace: string;
  pkg: string;
  iface: string;
}

export function splitInterface(name: string): { namespace: string; pkg: string; iface: string } {
  const colon = name.indexOf(':');
  const slash = name.indexOf('/', colon);
  return { namespace: name.slice(0, colon), pkg: name.slice(colon + 1, slash), iface: name.slice(slash + 1) };
}

/** Host-implemented: a component picks the link name of its next calls (wasmCloud 1.x). */
export const BUS_LATTICE = 'wasmcloud:bus/lattice';

export class LinkResolver {
  readonly #state: LatticeState;
  readonly #logger: Logger;
  /** `component|interface` pairs already reported missing, so a hot loop logs once. */
  readonly #reported = new Set<string>();
  /** Link names chosen with wasmcloud:bus/lattice, per guest call: invocation → interface → name. */
  readonly #linkNames = new Map<number, Map<string, string>>();

  constructor(state: LatticeState, logger: Logger) {
    this.#state = state;
    this.#logger = logger;
  }

  /** The link a component's import resolves through, if any. */
  resolve(componentId: string, interfaceName: string, linkName = DEFAULT_LINK_NAME): Link | undefined {
    const { namespace, pkg, iface } = splitInterface(interfaceName);
    const covering = COVERED_BY.get(interfaceName);
    return this.#state
      .linksFrom(componentId)
      .find(
        (l) =>
          l.name === linkName &&
          l.wit_namespace === namespace &&
          l.wit_package === pkg &&
          (l.interfaces.includes(iface) || (covering !== undefined && l.interfaces.includes(covering))),
      );
  }

  /** The link a call goes through; LINK_NOT_FOUND (logged once per kind) without one. */
  linkFor(componentId: string, call: ImportCall): Link {
    const linkName = this.#linkNames.get(call.invocation)?.get(call.interface) ?? DEFAULT_LINK_NAME;
    const link = this.resolve(componentId, call.interface, linkName);
    if (link === undefined) throw this.#missing(componentId, call.interface, linkName);
    return link;
  }

  /**
   * `wasmcloud:bus/lattice`: `call-target-interface` names an interface, and `set-link-name` makes the
   * rest of the guest's current call use that link name for those interfaces (1.x hosts give each
   * invocation a fresh store, so the choice ends with the call; here it ends with the invocation).
   */
  bus(call: ImportCall): unknown {
    if (call.resource === 'call-target-interface' && call.fn === '[constructor]') {
      const [namespace, pkg, iface] = call.args as [string, string, string];
      return new HostResource(BUS_LATTICE, 'call-target-interface', { namespace, pkg, iface });
    }
    if (call.resource === undefined && call.fn === 'set-link-name') {
      const [name, targets] = call.args as [string, CallTargetInterface[]];
      let names = this.#linkNames.get(call.invocation);
      if (names === undefined) {
        names = new Map();
        this.#linkNames.set(call.invocation, names);
        if (this.#linkNames.size > MAX_REMEMBERED_INVOCATIONS) {
          const oldest = this.#linkNames.keys().next().value as number;
          this.#linkNames.delete(oldest);
        }
      }
      for (const t of targets) names.set(`${t.namespace}:${t.pkg}/${t.iface}`, name);
      return undefined;
    }
    throw new ImportFailedError(`${BUS_LATTICE} has no function ${call.resource ?? ''}${call.fn}`);
  }

  #missing(componentId: string, interfaceName: string, linkName: string): LinkNotFoundError {
    const { namespace, pkg, iface } = splitInterface(interfaceName);
    const key = `${componentId}|${interfaceName}|${linkName}`;
    const named = linkName === DEFAULT_LINK_NAME ? '' : ` --name ${linkName}`;
    const hint = `add one: cirrus link put ${componentId} <target> ${namespace} ${pkg} --interface ${iface}${named}`;
    const err = new LinkNotFoundError(
      `${componentId} has no link for ${interfaceName} (link name "${linkName}")`,
      { hint },
    );
    if (!this.#reported.has(key)) {
      this.#reported.add(key);
      this.#logger.warn('import without a link', {
        component: componentId,
        interface: interfaceName,
        hint,
      });
    }
    return err;
  }
}
