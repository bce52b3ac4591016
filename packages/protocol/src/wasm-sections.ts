/**
 * The custom sections that carry component claims (§5.2): finding them, and the normalised binary
 * without them whose SHA-256 is the claims' module hash.
 *
 * The normalisation is wascap's, so hashes agree with wasmCloud: every section is re-emitted with the
 * shortest LEB128 size (toolchains may pad sizes to five bytes), `jwt` and `wasmcloud_jwt` custom
 * sections are dropped at every depth, and nested core modules and components (sections 1 and 4 of a
 * component) are rebuilt the same way before they are re-emitted.
 */
import { ClaimsMalformedError } from './errors.ts';

/** The section current wascap writes. */
export const CLAIMS_SECTION = 'wasmcloud_jwt';
/** The section wascap wrote before 0.9; still read. */
export const LEGACY_CLAIMS_SECTION = 'jwt';

const CUSTOM = 0;
const CORE_MODULE = 1;
const COMPONENT = 4;
const HEADER_BYTES = 8;
const MAGIC = [0x00, 0x61, 0x73, 0x6d];
/**
 * Modules and components nested in each other. Toolchains nest two or three levels; the bound keeps
 * the recursion below far from the stack limit whatever a hostile binary declares.
 */
const MAX_NESTING = 100;

export interface ClaimsSection {
  /** `wasmcloud_jwt` or `jwt`. */
  readonly name: string;
  /** The section's content after its name: the compact JWS. */
  readonly data: Uint8Array;
}

const decoder = new TextDecoder('utf-8', { fatal: true });
const encoder = new TextEncoder();
const CLAIMS_NAMES = new Set([CLAIMS_SECTION, LEGACY_CLAIMS_SECTION]);

function malformed(message: string): ClaimsMalformedError {
  return new ClaimsMalformedError(message, {
    hint: 'the binary is not valid WebAssembly; rebuild it, then sign it again',
  });
}

function readU32(bytes: Uint8Array, pos: number, end: number): [value: number, next: number] {
  let result = 0;
  for (let i = 0; i < 5; i++) {
    if (pos >= end) throw malformed(`a size at byte ${pos} runs past the end of its section`);
    const b = bytes[pos++] as number;
    result += (b & 0x7f) * 2 ** (7 * i);
    if ((b & 0x80) === 0) {
      if (result > 0xffff_ffff) break;
      return [result, pos];
    }
  }
  throw malformed(`invalid LEB128 size at byte ${pos}`);
}

function leb(value: number): number[] {
  const out: number[] = [];
  let v = value;
  do {
    let b = v % 128;
    v = Math.floor(v / 128);
    if (v !== 0) b |= 0x80;
    out.push(b);
  } while (v !== 0);
  return out;
}

interface Section {
  id: number;
  start: number;
  end: number;
}

/** The sections of the binary in `bytes[start, end)`, after its 8-byte header. */
function sections(bytes: Uint8Array, start: number, end: number): { component: boolean; list: Section[] } {
  if (end - start < HEADER_BYTES || MAGIC.some((b, i) => bytes[start + i] !== b)) {
    throw malformed(`no WebAssembly header at byte ${start}`);
  }
  const component = bytes[start + 6] === 1;
  const list: Section[] = [];
  let pos = start + HEADER_BYTES;
  while (pos < end) {
    const id = bytes[pos++] as number;
    const [size, contentStart] = readU32(bytes, pos, end);
    if (contentStart + size > end) throw malformed(`the section at byte ${pos - 1} runs past the end`);
    list.push({ id, start: contentStart, end: contentStart + size });
    pos = contentStart + size;
  }
  return { component, list };
}

/** The name of a custom section and where its data starts. */
function customName(bytes: Uint8Array, section: Section): [name: Uint8Array, dataStart: number] {
  const [length, nameStart] = readU32(bytes, section.start, section.end);
  if (nameStart + length > section.end)
    throw malformed(`a custom section name at byte ${nameStart} runs past its section`);
  return [bytes.subarray(nameStart, nameStart + length), nameStart + length];
}

function isClaimsName(name: Uint8Array): boolean {
  return (name.byteLength === 3 || name.byteLength === 13) && CLAIMS_NAMES.has(String.fromCharCode(...name));
}

/**
 * The claims sections at the top level of a module or component, in order. Sections inside nested
 * modules and components do not speak for this binary and are not returned.
 */
export function findClaimsSections(bytes: Uint8Array): ClaimsSection[] {
  const found: ClaimsSection[] = [];
  for (const section of sections(bytes, 0, bytes.byteLength).list) {
    if (section.id !== CUSTOM) continue;
    const [name, dataStart] = customName(bytes, section);
    if (isClaimsName(name)) {
      found.push({ name: String.fromCharCode(...name), data: bytes.subarray(dataStart, section.end) });
    }
  }
  return found;
}

/** The text of a claims section's data; not UTF-8 is malformed. */
export function claimsSectionText(section: ClaimsSection): string {
  try {
    return decoder.decode(section.data);
  } catch {
    throw new ClaimsMalformedError(`the ${section.name} section is not UTF-8 text`, {
      hint: 'sign the component again: cirrus claims sign',
    });
  }
}

/** Appends the normalised form of the binary in `bytes[start, end)`, `depth` levels down, to `out`. */
function strip(bytes: Uint8Array, start: number, end: number, out: Chunks, depth: number): void {
  if (depth > MAX_NESTING) {
    throw malformed(
      `modules and components are nested more than ${MAX_NESTING} levels deep at byte ${start}`,
    );
  }
  const { component, list } = sections(bytes, start, end);
  out.push(bytes.subarray(start, start + HEADER_BYTES));
  for (const section of list) {
    if (section.id === CUSTOM && isClaimsName(customName(bytes, section)[0])) continue;
    if (component && (section.id === CORE_MODULE || section.id === COMPONENT)) {
      const inner = new Chunks();
      strip(bytes, section.start, section.end, inner, depth + 1);
      out.push(Uint8Array.of(section.id, ...leb(inner.length)));
      out.append(inner);
      continue;
    }
    out.push(Uint8Array.of(section.id, ...leb(section.end - section.start)));
    out.push(bytes.subarray(section.start, section.end));
  }
}

class Chunks {
  readonly parts: Uint8Array[] = [];
  length = 0;

  push(part: Uint8Array): void {
    this.parts.push(part);
    this.length += part.byteLength;
  }

  append(other: Chunks): void {
    for (const part of other.parts) this.push(part);
  }

  concat(): Uint8Array {
    const out = new Uint8Array(this.length);
    let pos = 0;
    for (const part of this.parts) {
      out.set(part, pos);
      pos += part.byteLength;
    }
    return out;
  }
}

/** The binary without any claims section, normalised as wascap does: what the module hash covers. */
export function stripClaimsSections(bytes: Uint8Array): Uint8Array {
  const out = new Chunks();
  strip(bytes, 0, bytes.byteLength, out, 0);
  return out.concat();
}

/**
 * The binary signed with `token`: the normalised binary (every earlier claims section removed)
 * followed by one `wasmcloud_jwt` section, as wascap writes it.
 */
export function embedClaimsSection(bytes: Uint8Array, token: string): Uint8Array {
  return appendCustomSection(stripClaimsSections(bytes), CLAIMS_SECTION, encoder.encode(token));
}

/**
 * The source map `cirrus build` embeds in a component it builds: JSON (source map v3) of the bundle
 * the engine runs, its sources relative to the project, so a guest's stack points at the TypeScript.
 */
export const SOURCE_MAP_SECTION = 'cirrus-source-map';

/** The binary with a custom section `name` holding `data` appended at its top level. */
export function appendCustomSection(bytes: Uint8Array, name: string, data: Uint8Array): Uint8Array {
  const encodedName = encoder.encode(name);
  const content = [...leb(encodedName.byteLength), ...encodedName];
  const head = Uint8Array.of(CUSTOM, ...leb(content.length + data.byteLength), ...content);
  const out = new Uint8Array(bytes.byteLength + head.byteLength + data.byteLength);
  out.set(bytes, 0);
  out.set(head, bytes.byteLength);
  out.set(data, bytes.byteLength + head.byteLength);
  return out;
}

/** The data of the last top-level custom section called `name`, if the binary has one. */
export function findCustomSection(bytes: Uint8Array, name: string): Uint8Array | undefined {
  const wanted = encoder.encode(name);
  let found: Uint8Array | undefined;
  for (const section of sections(bytes, 0, bytes.byteLength).list) {
    if (section.id !== CUSTOM) continue;
    const [sectionName, dataStart] = customName(bytes, section);
    if (sectionName.byteLength === wanted.byteLength && sectionName.every((b, i) => b === wanted[i])) {
      found = bytes.subarray(dataStart, section.end);
    }
  }
  return found;
}
