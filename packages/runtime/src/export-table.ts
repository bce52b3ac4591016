/**
 * Worker side of the resources an instance exports to other components. jco hands the host of a
 * component (this worker) each exported resource as an object of the interface's class (`Counter`
 * for `counter`): its methods call into the guest, and its `Symbol.dispose` drops the guest's handle.
 * An object lent to a caller outside stays here under an id; the host thread, and the component
 * holding the resource through it, only ever see that id.
 */
import type { ExportedRef } from './worker-protocol.ts';
import { mapObjects } from './jco-values.ts';
import { witName } from './linked-imports.ts';

type ResourceClass = new (...args: unknown[]) => object;

interface Entry {
  readonly object: object;
  /**
   * The object's own `Symbol.dispose` when it was lent. jco replaces it once the object stops
   * holding a handle (disposed, or passed to the guest as `own`), which is how a call that took a
   * resource over is told from one that borrowed it, without the function's WIT types.
   */
  readonly dispose: unknown;
}

/** A call referred to a resource this instance does not hold (dropped, or taken over, before). */
export class UnknownExportedResource extends Error {}

/** `counter` → `Counter`, `input-stream` → `InputStream`: jco's class names. */
export function className(resource: string): string {
  return resource.replace(/(^|-)([a-z0-9])/g, (_, _dash: string, c: string) => c.toUpperCase());
}

export class ExportTable {
  /** Every exported resource class, with the interface that defines it. */
  readonly #classes = new Map<unknown, { iface: string; resource: string }>();
  readonly #entries = new Map<number, Entry>();
  #next = 1;

  /** `exports` as jco's `instantiate` returned them, keyed by export name. */
  constructor(exports: Record<string, unknown>) {
    for (const [name, members] of Object.entries(exports)) {
      // jco keys each interface twice, by its full name and by a short alias; the full name says which.
      if (!name.includes(':') || members === null || typeof members !== 'object') continue;
      const iface = name.replace(/@.*$/, '');
      for (const [key, member] of Object.entries(members)) {
        if (/^[A-Z]/.test(key) && typeof member === 'function') {
          this.#classes.set(member, { iface, resource: witName(key) });
        }
      }
    }
  }

  /** The class of `resource` in one exported interface object, if the interface defines it. */
  static classOf(members: unknown, resource: string): ResourceClass | undefined {
    const found = (members as Record<string, unknown> | undefined)?.[className(resource)];
    return typeof found === 'function' ? (found as ResourceClass) : undefined;
  }

  /** The object lent under `id`; throws UnknownExportedResource when there is none. */
  get(id: number): object {
    const entry = this.#entries.get(id);
    if (entry === undefined) throw new UnknownExportedResource(`exported resource ${id} is not held here`);
    return entry.object;
  }

  /** Replaces the host's `{ $exported }` references by the objects, noting each id in `used`. */
  resolve(value: unknown, used: Set<number>): unknown {
    return mapObjects(value, (object) => {
      const id = (object as Partial<ExportedRef>).$exported;
      if (typeof id !== 'number' || Object.keys(object).length !== 1) return undefined;
      used.add(id);
      return this.get(id);
    });
  }

  /** Replaces exported resource objects in a call's result by references, keeping the objects here. */
  lend(value: unknown): unknown {
    return mapObjects(value, (object) => {
      const type = this.#classes.get(
        (Object.getPrototypeOf(object) as { constructor?: unknown } | null)?.constructor,
      );
      if (type === undefined) return undefined;
      const id = this.#next++;
      this.#entries.set(id, { object, dispose: (object as Partial<Disposable>)[Symbol.dispose] });
      return { $exported: id, $interface: type.iface, $resource: type.resource } satisfies ExportedRef;
    });
  }

  /** Of the ids a call used, those it took over (passed as `own`): forgotten here and returned. */
  released(used: ReadonlySet<number>): number[] {
    const out: number[] = [];
    for (const id of used) {
      const entry = this.#entries.get(id);
      if (entry === undefined) continue;
      if ((entry.object as Partial<Disposable>)[Symbol.dispose] === entry.dispose) continue;
      this.#entries.delete(id);
      out.push(id);
    }
    return out;
  }

  /** Drops the guest's handle of a resource the host no longer holds; a no-op for unknown ids. */
  drop(id: number): void {
    const entry = this.#entries.get(id);
    if (entry === undefined) return;
    this.#entries.delete(id);
    (entry.object as Partial<Disposable>)[Symbol.dispose]?.();
  }
}
