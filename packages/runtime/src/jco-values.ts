/**
 * Values as jco lifts and lowers them: primitives, bigints, byte arrays, arrays (lists, tuples) and
 * plain objects (records, `{ tag, val }` variants and results), with resources as objects among them.
 */

/**
 * Rebuilds `value` with each object `replace` answers for replaced by its answer; objects it answers
 * `undefined` for are walked into (arrays and records).
 */
export function mapObjects(value: unknown, replace: (object: object) => unknown): unknown {
  if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value)) return value;
  const replaced = replace(value);
  if (replaced !== undefined) return replaced;
  if (Array.isArray(value)) return value.map((v) => mapObjects(v, replace));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = mapObjects(v, replace);
  return out;
}

/** Calls `visit` for each object in `value` that `matches`, without walking into those. */
export function forEachObject<T extends object>(
  value: unknown,
  matches: (object: object) => object is T,
  visit: (found: T) => void,
): void {
  if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value)) return;
  if (matches(value)) {
    visit(value);
    return;
  }
  for (const v of Array.isArray(value) ? value : Object.values(value)) forEachObject(v, matches, visit);
}
