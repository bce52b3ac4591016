/**
 * Host side of the resources a component exports to other components on this host. A resource is
 * an object in the memory of one instance of the exporting component (its worker keeps it in an
 * `ExportTable`); what the host holds, and hands the importing component as a host resource, is an
 * `ExportedResource`: which instance holds it, and its id there. Every call on it goes to that
 * instance, and dropping it drops the guest's handle there.
 */
import { ResourceLostError, ResourceNotRoutableError } from '@cirrus/protocol';
import { forEachObject } from './jco-values.ts';

/** The instance holding exported resources (a WorkerInstance, seen from here). */
export interface ResourceOwner {
  readonly componentId: string;
  /** Drops resource `id` in the instance; the host no longer holds it. */
  dropExported(id: number): void;
}

export class ExportedResource {
  /** Unversioned interface that defines the resource type, e.g. `example:counter/counters`. */
  readonly interface: string;
  /** The resource type's WIT name, e.g. `counter`. */
  readonly resource: string;
  /** Its id in the owner's table. */
  readonly id: number;
  readonly owner: ResourceOwner;
  /** Why it can no longer be used; undefined while it is live. */
  #gone: string | undefined;

  constructor(owner: ResourceOwner, iface: string, resource: string, id: number) {
    this.owner = owner;
    this.interface = iface;
    this.resource = resource;
    this.id = id;
  }

  get live(): boolean {
    return this.#gone === undefined;
  }

  /** `counter 3 of example:counter/counters (component counters)`, for messages. */
  describe(): string {
    return `${this.resource} ${this.id} of ${this.interface} (component ${this.owner.componentId})`;
  }

  /** Marks it unusable: its instance ended, or a call took it over (`own`). */
  end(reason: string): void {
    this.#gone ??= reason;
  }

  /** The error of a call on it once it is gone. */
  lostError(): ResourceLostError {
    return new ResourceLostError(`${this.describe()} is gone: ${this.#gone ?? 'its instance ended'}`, {
      hint: 'a resource lives in one instance of the component that exports it and ends with it; create a new one',
      details: { interface: this.interface, resource: this.resource },
    });
  }

  /** The holder is done with it: the guest's handle in the owning instance is dropped. */
  [Symbol.dispose](): void {
    if (this.#gone !== undefined) return;
    this.#gone = 'it was dropped';
    this.owner.dropExported(this.id);
  }
}

function isExported(object: object): object is ExportedResource {
  return object instanceof ExportedResource;
}

/**
 * The resource whose instance must serve a call on `self` with `args`, or undefined when the call
 * carries none (any instance serves it). Throws when the call cannot be made: a resource that is gone,
 * one of another component, or resources held by different instances (one call runs in one instance).
 */
export function callOwner(
  componentId: string,
  what: string,
  self: ExportedResource | undefined,
  args: readonly unknown[],
): ExportedResource | undefined {
  let owner: ExportedResource | undefined;
  const check = (found: ExportedResource): void => {
    if (!found.live) throw found.lostError();
    if (found.owner.componentId !== componentId) {
      throw new ResourceNotRoutableError(
        `${what} of component ${componentId} was passed ${found.describe()}, which only that component can use`,
        { hint: 'pass a resource only to calls of the component that exports it' },
      );
    }
    if (owner === undefined) owner = found;
    else if (owner.owner !== found.owner) {
      throw new ResourceNotRoutableError(
        `${what} was passed ${owner.describe()} and ${found.describe()}, which live in different instances`,
        {
          hint: 'one call runs in one instance: pass it resources created by the same instance, or run the component with one instance',
        },
      );
    }
  };
  if (self !== undefined) check(self);
  forEachObject(args, isExported, check);
  return owner;
}

/**
 * How messages name a call: `example:counter/counters#make`, `…#counter.increment`, and
 * `…#[constructor]counter` for a constructor.
 */
export function callName(iface: string, fn: string, resource?: string): string {
  if (resource === undefined) return `${iface}#${fn}`;
  return fn === '[constructor]' ? `${iface}#[constructor]${resource}` : `${iface}#${resource}.${fn}`;
}

/** A call into an exported interface: a function, or a constructor, static function or method. */
export interface ExportCall {
  /** WIT name, kebab-case; `[constructor]` for a resource's constructor. */
  fn: string;
  /** The resource type for constructors, static functions and methods. */
  resource?: string | undefined;
  /** The receiver of a method. */
  self?: ExportedResource | undefined;
  /** Values as jco represents them; exported resources of the component among them as ExportedResource. */
  args: unknown[];
}
