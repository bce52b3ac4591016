/**
 * Just enough of the WebAssembly binary format to reject bad input early and clearly (not wasm, a
 * core module where a component is expected, truncated) and to cap linear memory by rewriting a
 * module's declared maximum.
 */
import {
  InstantiationFailedError,
  MalformedComponentError,
  NotAComponentError,
  NotWasmError,
  TruncatedWasmError,
} from '@cirrus/protocol';

const MAGIC = [0x00, 0x61, 0x73, 0x6d];

export type WasmKind = 'component' | 'module';

class Reader {
  readonly bytes: Uint8Array;
  pos: number;
  readonly #what: string;

  constructor(bytes: Uint8Array, pos: number, what: string) {
    this.bytes = bytes;
    this.pos = pos;
    this.#what = what;
  }

  byte(): number {
    if (this.pos >= this.bytes.byteLength) throw this.truncated();
    return this.bytes[this.pos++] as number;
  }

  u32(): number {
    let result = 0;
    let shift = 0;
    for (let i = 0; i < 5; i++) {
      const b = this.byte();
      result |= (b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result >>> 0;
      shift += 7;
    }
    throw new MalformedComponentError(`${this.#what}: invalid LEB128 number at byte ${this.pos}`);
  }

  /** An unsigned LEB128 of up to 64 bits (memory64 limits), exact below 2^53. */
  u64(): number {
    let result = 0;
    for (let i = 0; i < 10; i++) {
      const b = this.byte();
      result += (b & 0x7f) * 2 ** (7 * i);
      if ((b & 0x80) === 0) return result;
    }
    throw new MalformedComponentError(`${this.#what}: invalid LEB128 number at byte ${this.pos}`);
  }

  truncated(): TruncatedWasmError {
    return new TruncatedWasmError(
      `${this.#what} is truncated: the binary ends at byte ${this.bytes.byteLength} inside a section`,
      { hint: 'the file was cut short (interrupted download or copy); fetch or build it again' },
    );
  }
}

/**
 * Checks the preamble and the top-level section framing. Returns the kind of binary; throws
 * NOT_WASM, TRUNCATED_WASM or MALFORMED_COMPONENT.
 */
export function inspectWasm(bytes: Uint8Array, what: string): WasmKind {
  if (bytes.byteLength < 8 || MAGIC.some((b, i) => bytes[i] !== b)) {
    const looksTruncated =
      bytes.byteLength < 8 && MAGIC.slice(0, bytes.byteLength).every((b, i) => bytes[i] === b);
    if (looksTruncated && bytes.byteLength > 0) {
      throw new TruncatedWasmError(`${what} is truncated: only ${bytes.byteLength} bytes of the header`, {
        hint: 'the file was cut short; fetch or build it again',
      });
    }
    throw new NotWasmError(`${what} is not a WebAssembly binary (no \\0asm header)`, {
      hint: 'point the reference at a .wasm component, e.g. the output of `cirrus build`',
    });
  }
  const version = (bytes[4] as number) | ((bytes[5] as number) << 8);
  const layer = (bytes[6] as number) | ((bytes[7] as number) << 8);
  let kind: WasmKind;
  if (layer === 0 && version === 1) kind = 'module';
  else if (layer === 1 && version === 0x0d) kind = 'component';
  else {
    throw new MalformedComponentError(
      `${what} has an unsupported binary version (layer ${layer}, version ${version})`,
      { hint: 'rebuild the component with a current toolchain (component model binary version 0x0d)' },
    );
  }
  const reader = new Reader(bytes, 8, what);
  while (reader.pos < bytes.byteLength) {
    reader.byte();
    const size = reader.u32();
    if (reader.pos + size > bytes.byteLength) throw reader.truncated();
    reader.pos += size;
  }
  return kind;
}

/** Throws NOT_A_COMPONENT for core modules; a component binary passes. */
export function assertComponent(bytes: Uint8Array, what: string): void {
  if (inspectWasm(bytes, what) === 'module') {
    throw new NotAComponentError(`${what} is a core WebAssembly module, not a component`, {
      hint: 'wrap it into a component (e.g. `wasm-tools component new`) or build it with a component toolchain',
    });
  }
}

/** Unsigned LEB128 of a whole number below 2^53 (a capped page count may need 33 bits). */
function leb(value: number): number[] {
  const out: number[] = [];
  let v = value;
  do {
    let b = v % 0x80;
    v = Math.floor(v / 0x80);
    if (v !== 0) b |= 0x80;
    out.push(b);
  } while (v !== 0);
  return out;
}

/** Memory limits flags: a maximum is present, shared, 64-bit indices, a custom page size. */
const HAS_MAX = 0x01;
const MEMORY64 = 0x04;
const PAGE_SIZE = 0x08;
const KNOWN_FLAGS = 0x0f;
/** log2 of the largest page size (the default, 64 KiB). */
const MAX_PAGE_SIZE_LOG2 = 16;

/**
 * Rewrites every memory a core module defines so that its maximum is at most `maxBytes`. V8 then
 * refuses `memory.grow` past the cap (the guest sees -1), which worker resource limits cannot do.
 * 64-bit memories and custom page sizes are capped alike: either would otherwise grow past the cap.
 */
export function capModuleMemory(module: Uint8Array, maxBytes: number, what: string): Uint8Array {
  const reader = new Reader(module, 8, what);
  while (reader.pos < module.byteLength) {
    const sectionStart = reader.pos;
    const id = reader.byte();
    const size = reader.u32();
    const contentStart = reader.pos;
    const contentEnd = contentStart + size;
    if (contentEnd > module.byteLength) throw reader.truncated();
    if (id !== 5) {
      reader.pos = contentEnd;
      continue;
    }
    const count = reader.u32();
    const content: number[] = leb(count);
    for (let i = 0; i < count; i++) {
      const at = reader.pos;
      const flags = reader.byte();
      if ((flags & ~KNOWN_FLAGS) !== 0) {
        throw new MalformedComponentError(
          `${what}: unknown memory limits flags 0x${flags.toString(16)} at byte ${at}`,
        );
      }
      const wide = (flags & MEMORY64) !== 0;
      const min = wide ? reader.u64() : reader.u32();
      const max = (flags & HAS_MAX) === 0 ? undefined : wide ? reader.u64() : reader.u32();
      const pageLog2 = (flags & PAGE_SIZE) === 0 ? MAX_PAGE_SIZE_LOG2 : reader.u32();
      if (pageLog2 > MAX_PAGE_SIZE_LOG2) {
        throw new MalformedComponentError(
          `${what}: memory page size 2^${pageLog2} at byte ${at} is not valid`,
        );
      }
      const capPages = Math.floor(maxBytes / 2 ** pageLog2);
      if (min > capPages) {
        throw new InstantiationFailedError(
          `${what} needs ${min * 2 ** pageLog2} bytes of linear memory at start, above the ${maxBytes}-byte cap`,
          { hint: 'raise instanceMemoryMaxBytes for this host' },
        );
      }
      const cappedMax = max === undefined ? capPages : Math.min(max, capPages);
      content.push(flags | HAS_MAX, ...leb(min), ...leb(cappedMax));
      if ((flags & PAGE_SIZE) !== 0) content.push(...leb(pageLog2));
    }
    if (reader.pos !== contentEnd) {
      throw new MalformedComponentError(`${what}: the memory section does not end where its size says`);
    }
    const section = [5, ...leb(content.length), ...content];
    const out = new Uint8Array(sectionStart + section.length + (module.byteLength - contentEnd));
    out.set(module.subarray(0, sectionStart), 0);
    out.set(section, sectionStart);
    out.set(module.subarray(contentEnd), sectionStart + section.length);
    return out;
  }
  return module;
}
