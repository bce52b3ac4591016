/**
 * The JavaScript engines `cirrus build` can put in a component:
 * - `starlingmonkey` (componentize-js): SpiderMonkey compiled to WebAssembly, with the web platform
 *   APIs; about 12 MB per component.
 * - `quickjs` (componentize-qjs): QuickJS, about 1.7 MB per component and several times cheaper per
 *   call, without web APIs (TextEncoder and TextDecoder are added here).
 *
 * componentize-qjs 0.4 cannot build a `wasi:http` component from the standard WASI WIT: its
 * pre-initialisation step stubs every import with one resource type, then lets wasmtime-wasi
 * replace the `wasi:io` and `wasi:clocks` interfaces it matches by semver, so the resources of
 * `wasi:http/types` no longer equal those of `wasi:io` ("mismatched resource types"). Built against
 * a copy of the WIT whose `wasi:io` and `wasi:clocks` carry a version nothing matches
 * (`QUICKJS_WASI_SHIFTED`), it succeeds; the component then imports those interfaces under that
 * version too, besides the engine's own `@0.2.12` ones. Cirrus serves every version of an interface
 * alike, as jco does; hosts that match versions strictly (wasmtime, wasmCloud) refuse it.
 */
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { BuildFailedError } from '@cirrus/protocol';

export const ENGINES = ['starlingmonkey', 'quickjs'] as const;
export type Engine = (typeof ENGINES)[number];

/** The version the QuickJS build gives `wasi:io` and `wasi:clocks` (see above). */
export const QUICKJS_WASI_SHIFTED = '0.9.12';
const SHIFTED_PACKAGES = /\b(wasi:(?:io|clocks)(?:\/[a-z][a-z0-9-]*)?)@0\.2\.\d+/g;

/** Copies a WIT tree for the QuickJS build: `wasi:io` and `wasi:clocks` shifted, `wasi:http` without worlds. */
export async function shiftedWit(source: string, target: string): Promise<void> {
  for (const file of await listWit(source)) {
    let text = (await readFile(file, 'utf8')).replace(SHIFTED_PACKAGES, `$1@${QUICKJS_WASI_SHIFTED}`);
    if (/^package wasi:http@/m.test(text)) text = withoutWorlds(text);
    const out = join(target, relative(source, file));
    await mkdir(dirname(out), { recursive: true });
    await writeFile(out, text);
  }
}

async function listWit(dir: string): Promise<string[]> {
  const out: string[] = [];
  // Links (the WASI packages) are followed: the copy holds their text.
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory() || entry.isSymbolicLink()) {
      const inner = await readdir(path).then(
        () => true,
        () => false,
      );
      if (inner) {
        out.push(...(await listWit(path)));
        continue;
      }
    }
    if (entry.name.endsWith('.wit')) out.push(path);
  }
  return out;
}

/** The WIT text without its `world … { … }` blocks (their includes name worlds QuickJS cannot build). */
function withoutWorlds(text: string): string {
  const lines = text.split('\n');
  const kept: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    if (!/^world\s/.test(line)) {
      kept.push(line);
      continue;
    }
    let depth = count(line, '{') - count(line, '}');
    while (depth > 0 && i + 1 < lines.length) {
      i += 1;
      depth += count(lines[i] as string, '{') - count(lines[i] as string, '}');
    }
  }
  return kept.join('\n');
}

function count(text: string, char: string): number {
  return text.split(char).length - 1;
}

/**
 * TextEncoder and TextDecoder (UTF-8) for engines without them, run before the component's code.
 * Invalid sequences decode to U+FFFD, as the web's decoder does.
 */
export const TEXT_CODING_PRELUDE = `if (typeof globalThis.TextEncoder === 'undefined') {
  globalThis.TextEncoder = class TextEncoder {
    get encoding() { return 'utf-8'; }
    encode(text = '') {
      const s = String(text);
      const out = [];
      for (let i = 0; i < s.length; i++) {
        let c = s.charCodeAt(i);
        if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length) {
          const d = s.charCodeAt(i + 1);
          if (d >= 0xdc00 && d < 0xe000) { c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00); i++; } else c = 0xfffd;
        } else if (c >= 0xd800 && c < 0xe000) c = 0xfffd;
        if (c < 0x80) out.push(c);
        else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
        else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
        else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
      }
      return new Uint8Array(out);
    }
  };
}
if (typeof globalThis.TextDecoder === 'undefined') {
  globalThis.TextDecoder = class TextDecoder {
    get encoding() { return 'utf-8'; }
    decode(input) {
      if (input === undefined) return '';
      const b = input instanceof Uint8Array ? input : new Uint8Array(input.buffer ?? input, input.byteOffset ?? 0, input.byteLength);
      let out = '';
      for (let i = 0; i < b.length; ) {
        const c = b[i];
        let cp = 0xfffd, n = 1;
        if (c < 0x80) cp = c;
        else if (c >= 0xc2 && c < 0xe0 && i + 1 < b.length && (b[i + 1] & 0xc0) === 0x80) { cp = ((c & 31) << 6) | (b[i + 1] & 63); n = 2; }
        else if (c >= 0xe0 && c < 0xf0 && i + 2 < b.length && (b[i + 1] & 0xc0) === 0x80 && (b[i + 2] & 0xc0) === 0x80) {
          cp = ((c & 15) << 12) | ((b[i + 1] & 63) << 6) | (b[i + 2] & 63); n = 3;
          if (cp < 0x800 || (cp >= 0xd800 && cp < 0xe000)) { cp = 0xfffd; n = 1; }
        } else if (c >= 0xf0 && c < 0xf5 && i + 3 < b.length && (b[i + 1] & 0xc0) === 0x80 && (b[i + 2] & 0xc0) === 0x80 && (b[i + 3] & 0xc0) === 0x80) {
          cp = ((c & 7) << 18) | ((b[i + 1] & 63) << 12) | ((b[i + 2] & 63) << 6) | (b[i + 3] & 63); n = 4;
          if (cp < 0x10000 || cp > 0x10ffff) { cp = 0xfffd; n = 1; }
        }
        out += String.fromCodePoint(cp);
        i += n;
      }
      return out;
    }
  };
}
`;

interface QuickJsComponentize {
  componentize: (opts: {
    witPath: string;
    jsSource: string;
    world?: string;
    sync?: boolean;
  }) => Promise<{ component: Uint8Array }>;
}

/** Builds a QuickJS component from the bundled source and a WIT tree made by `shiftedWit`. */
export async function componentizeQuickJs(js: string, witPath: string, world: string): Promise<Uint8Array> {
  const { componentize } = (await import('componentize-qjs')) as QuickJsComponentize;
  try {
    // The synchronous runtime: jco and Cirrus run components without the component-model async ABI.
    const { component } = await componentize({ witPath, jsSource: js, world, sync: true });
    return component;
  } catch (err) {
    throw new BuildFailedError(
      `componentize-qjs failed: ${err instanceof Error ? err.message : String(err)}`,
      {
        hint: 'check that the source exports what the WIT world declares',
      },
    );
  }
}
