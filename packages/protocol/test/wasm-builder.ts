/**
 * Hand-built WebAssembly binaries for the claims tests: exact control over section sizes (padded or
 * shortest LEB128), custom sections at any depth, and one code byte to change.
 */

const MODULE_HEADER = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
const COMPONENT_HEADER = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];

/** LEB128 of `value`, padded to five bytes when `padded` (as some linkers write sizes). */
export function leb(value: number, padded = false): number[] {
  const out: number[] = [];
  let v = value;
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v !== 0 || (padded && out.length < 4)) b |= 0x80;
    out.push(b);
  } while (v !== 0 || (padded && out.length < 5));
  return out;
}

export function section(id: number, content: ArrayLike<number>, padded = false): Uint8Array {
  return Uint8Array.from([id, ...leb(content.length, padded), ...Array.from(content)]);
}

export function custom(name: string, data: string | Uint8Array, padded = false): Uint8Array {
  const nameBytes = new TextEncoder().encode(name);
  const dataBytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  return section(0, [...leb(nameBytes.length), ...nameBytes, ...dataBytes], padded);
}

function concat(parts: readonly ArrayLike<number>[]): Uint8Array {
  return Uint8Array.from(parts.flatMap((p) => Array.from(p)));
}

/** The value `answer` below returns: change it and the code changes by one byte. */
export const ANSWER = 42;

/**
 * A core module exporting `answer: () -> i32`, plus `extra` sections at its end. `padded` writes
 * every size in five bytes.
 */
export function coreModule(
  options: { answer?: number; padded?: boolean; extra?: Uint8Array[] } = {},
): Uint8Array {
  const padded = options.padded ?? false;
  const body = [0x00, 0x41, options.answer ?? ANSWER, 0x0b];
  return concat([
    MODULE_HEADER,
    section(1, [1, 0x60, 0, 1, 0x7f], padded),
    section(3, [1, 0], padded),
    section(7, [1, 6, ...new TextEncoder().encode('answer'), 0, 0], padded),
    section(10, [1, body.length, ...body], padded),
    ...(options.extra ?? []),
  ]);
}

/** A component holding `inner` core modules (section 1) and then `extra` top-level sections. */
export function component(inner: Uint8Array[], extra: Uint8Array[] = []): Uint8Array {
  return concat([COMPONENT_HEADER, ...inner.map((m) => section(1, m)), ...extra]);
}

/** A component nested in a component (section 4). */
export function nestedComponent(inner: Uint8Array): Uint8Array {
  return section(4, inner);
}

export function withSections(binary: Uint8Array, ...extra: Uint8Array[]): Uint8Array {
  return concat([binary, ...extra]);
}

/**
 * An empty component inside a component, `depth` times over. Built in one pass from the known sizes:
 * nesting by concatenation would copy the whole binary once per level.
 */
export function deeplyNestedComponent(depth: number): Uint8Array {
  const sizes = [COMPONENT_HEADER.length];
  for (let level = 1; level <= depth; level += 1) {
    const inner = sizes[level - 1] as number;
    sizes.push(COMPONENT_HEADER.length + 1 + leb(inner).length + inner);
  }
  const out = new Uint8Array(sizes[depth] as number);
  let at = 0;
  for (let level = depth; level >= 0; level -= 1) {
    out.set(COMPONENT_HEADER, at);
    at += COMPONENT_HEADER.length;
    if (level === 0) break;
    const head = [4, ...leb(sizes[level - 1] as number)];
    out.set(head, at);
    at += head.length;
  }
  return out;
}
