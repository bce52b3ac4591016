/**
 * Turns a component into jco's JavaScript bindings plus core modules, in memory, and keeps the result
 * on disk by content digest so a restarted host skips the transpile (about a second per component).
 * Cache entries are written to a private temp directory and renamed into place, so a crash never
 * leaves a half-written entry behind.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { MalformedComponentError } from '@cirrus/protocol';
import { ASYNC_IMPORTS } from './wasi/supported.ts';

export interface Transpiled {
  dir: string;
  moduleUrl: string;
  /** Core module file names in the order jco asks for them. */
  coreModules: string[];
  /** Unversioned import names, e.g. `wasi:http/types`. */
  imports: string[];
  /** Export names as jco exposes them on the instance, e.g. `wasi:http/incoming-handler@0.2.12`. */
  exports: string[];
  fromCache: boolean;
}

interface Meta {
  coreModules: string[];
  imports: string[];
  exports: string[];
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

let fingerprintPromise: Promise<string> | undefined;

/** Identifies the transpiler build and options, so a jco upgrade invalidates cached output. */
function fingerprint(): Promise<string> {
  fingerprintPromise ??= (async () => {
    const entry = fileURLToPath(import.meta.resolve('@bytecodealliance/jco-transpile'));
    const pkg = JSON.parse(await readFile(join(entry, '..', '..', 'package.json'), 'utf8')) as {
      version: string;
    };
    return createHash('sha256')
      .update(`jco-transpile@${pkg.version}\n${JSON.stringify(OPTIONS)}`)
      .digest('hex')
      .slice(0, 16);
  })();
  return fingerprintPromise;
}

async function readCached(dir: string): Promise<Meta | undefined> {
  try {
    return JSON.parse(await readFile(join(dir, 'meta.json'), 'utf8')) as Meta;
  } catch {
    return undefined;
  }
}

const inFlight = new Map<string, Promise<Transpiled>>();

export function transpileCached(bytes: Uint8Array, digest: string, cacheDir: string): Promise<Transpiled> {
  const pending = inFlight.get(digest);
  if (pending !== undefined) return pending;
  const work = transpileInto(bytes, digest, cacheDir).finally(() => inFlight.delete(digest));
  inFlight.set(digest, work);
  return work;
}

async function transpileInto(bytes: Uint8Array, digest: string, cacheDir: string): Promise<Transpiled> {
  const key = `${digest.replace(/^sha256:/, '')}-${await fingerprint()}`;
  const root = join(cacheDir, 'components');
  const dir = join(root, key);
  const result = (meta: Meta, fromCache: boolean): Transpiled => ({
    dir,
    moduleUrl: pathToFileURL(join(dir, `${NAME}.mjs`)).href,
    ...meta,
    fromCache,
  });

  const cached = await readCached(dir);
  if (cached !== undefined) return result(cached, true);

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

  const meta: Meta = {
    coreModules: Object.keys(output.files).filter((f) => f.endsWith('.wasm')),
    imports: output.imports.map((name) => name.replace(/@.*$/, '')),
    exports: output.exports
      .filter(([, kind]) => kind === 'instance' || kind === 'function')
      .map(([name]) => name),
  };
  const bindings = output.files[`${NAME}.js`];
  if (bindings === undefined)
    throw new MalformedComponentError('the transpiler produced no JavaScript bindings');
  const js = optimiseBindings(new TextDecoder().decode(bindings));

  const temp = join(root, `.tmp-${randomBytes(6).toString('hex')}`);
  await mkdir(temp, { recursive: true, mode: 0o700 });
  try {
    await writeFile(join(temp, `${NAME}.mjs`), js);
    for (const name of meta.coreModules) await writeFile(join(temp, name), output.files[name] as Uint8Array);
    await writeFile(join(temp, 'meta.json'), JSON.stringify(meta));
    try {
      await rename(temp, dir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
    }
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
  return result(meta, false);
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

export async function readCoreModule(transpiled: Transpiled, name: string): Promise<Uint8Array> {
  return readFile(join(transpiled.dir, name));
}
