/**
 * Turns a component into jco's JavaScript bindings plus core modules, in memory, and keeps the result
 * in the component cache by content digest so a restarted host skips the transpile (about a second
 * per component). Without a usable cache the result simply stays in memory.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MalformedComponentError } from '@cirrus/protocol';
import type { CacheEntry, ComponentCache } from './component-cache.ts';
import { ASYNC_IMPORTS } from './wasi/supported.ts';

export interface Transpiled extends CacheEntry {
  /** Read from the cache rather than transpiled now. */
  fromCache: boolean;
}

const NAME = 'component';
export const HTTP_HANDLE_EXPORT = 'wasi:http/incoming-handler#handle';

const OPTIONS = {
  name: NAME,
  instantiation: 'async',
  asyncMode: 'jspi',
  asyncImports: [...ASYNC_IMPORTS],
  asyncExports: [HTTP_HANDLE_EXPORT],
  emitTypescriptDeclarations: false,
} as const;

/** Bumped when what the cache stores for a component changes, so older entries are not looked at. */
const CACHE_LAYOUT = 2;

let fingerprintPromise: Promise<string> | undefined;

/** Identifies the transpiler build and options, so a jco upgrade invalidates cached output. */
export function fingerprint(): Promise<string> {
  fingerprintPromise ??= (async () => {
    const entry = fileURLToPath(import.meta.resolve('@bytecodealliance/jco-transpile'));
    const pkg = JSON.parse(await readFile(join(entry, '..', '..', 'package.json'), 'utf8')) as {
      version: string;
    };
    return createHash('sha256')
      .update(`jco-transpile@${pkg.version}\n${JSON.stringify(OPTIONS)}\nlayout ${CACHE_LAYOUT}`)
      .digest('hex')
      .slice(0, 16);
  })();
  return fingerprintPromise;
}

const inFlight = new Map<string, Promise<Transpiled>>();

export function transpileCached(
  bytes: Uint8Array,
  digest: string,
  cache: ComponentCache,
): Promise<Transpiled> {
  const id = `${cache.dir}\0${digest}`;
  const pending = inFlight.get(id);
  if (pending !== undefined) return pending;
  const work = transpileThrough(bytes, digest, cache).finally(() => inFlight.delete(id));
  inFlight.set(id, work);
  return work;
}

async function transpileThrough(
  bytes: Uint8Array,
  digest: string,
  cache: ComponentCache,
): Promise<Transpiled> {
  const key = `${digest.replace(/^sha256:/, '')}-${await fingerprint()}`;
  const cached = await cache.read(key);
  if (cached !== undefined) return { ...cached, fromCache: true };
  const entry = await transpile(bytes);
  await cache.write(key, entry);
  return { ...entry, fromCache: false };
}

async function transpile(bytes: Uint8Array): Promise<CacheEntry> {
  const { transpileBytes } = await import('@bytecodealliance/jco-transpile');
  let output: Awaited<ReturnType<typeof transpileBytes>>;
  try {
    output = await transpileBytes(bytes, {
      ...OPTIONS,
      asyncImports: [...OPTIONS.asyncImports],
      asyncExports: [...OPTIONS.asyncExports],
    });
  } catch (err) {
    throw new MalformedComponentError(`the component could not be processed: ${describe(err)}`, {
      hint: 'the binary is not a valid component; rebuild it and check it with `wasm-tools validate`',
    });
  }
  const bindings = output.files[`${NAME}.js`];
  if (bindings === undefined)
    throw new MalformedComponentError('the transpiler produced no JavaScript bindings');
  return {
    bindings: optimiseBindings(new TextDecoder().decode(bindings)),
    coreModules: Object.entries(output.files)
      .filter(([name]) => name.endsWith('.wasm'))
      .map(([name, content]) => ({ name, bytes: content })),
    imports: output.imports.map((name) => name.replace(/@.*$/, '')),
    exports: output.exports
      .filter(([, kind]) => kind === 'instance' || kind === 'function')
      .map(([name]) => name),
  };
}

/**
 * jco's bindings check `process.env.JCO_DEBUG` in every debug-log call, hundreds of times per
 * request; reading `process.env` is a native call in Node (measured: 15% of a hello request). The
 * guard is turned into a constant so the calls become no-ops the JIT removes.
 */
const DEBUG_GUARD = 'if (!globalThis?.process?.env?.JCO_DEBUG) { return; }';

export function optimiseBindings(js: string): string {
  return js.replace(DEBUG_GUARD, 'return;');
}

function describe(err: unknown): string {
  if (err instanceof Error) return err.message.split('\n')[0] ?? err.message;
  if (typeof err === 'object' && err !== null && 'payload' in err) return String(err.payload);
  return String(err);
}
