/**
 * Transpiling in a browser: the page asks the host that served it to run jco on the component's
 * bytes (the transpiler is a 3.5 MB WebAssembly program of its own, which every tab would otherwise
 * fetch and run), and keeps the result in the browser's Cache Storage under the component's digest
 * and the transpiler's fingerprint, so a reloaded tab starts components without asking again.
 */
import { ArtifactFetchFailedError, errorFromJSON, MalformedComponentError } from '@cirrus/protocol';
import type { ErrorJSON } from '@cirrus/protocol';
import type { Transpiled } from '../transpile.ts';
import { decodeValue, encodeValue } from './value-codec.ts';

/** The media type of a transpiled component on the wire (value-codec.ts of a CacheEntry). */
export const TRANSPILED_MEDIA_TYPE = 'application/vnd.cirrus.transpiled';

export type TranspiledEntry = Omit<Transpiled, 'fromCache'>;

export function encodeTranspiled(entry: TranspiledEntry): Uint8Array {
  return encodeValue({ ...entry });
}

export function decodeTranspiled(bytes: Uint8Array): TranspiledEntry {
  const value = decodeValue(bytes) as Partial<TranspiledEntry> | null;
  if (
    value === null ||
    typeof value !== 'object' ||
    typeof value.bindings !== 'string' ||
    !Array.isArray(value.coreModules) ||
    !Array.isArray(value.imports) ||
    !Array.isArray(value.exports)
  ) {
    throw new MalformedComponentError('the transpiled component sent by the host is malformed');
  }
  return value as TranspiledEntry;
}

export interface ServedTranspilerOptions {
  /** Where to POST component bytes; answers a transpiled component, or an error as JSON. */
  endpoint: string | URL;
  /** Names the transpiler build, so that a new one does not reuse old results. */
  fingerprint: string;
}

interface CacheLike {
  match(key: string): Promise<{ arrayBuffer(): Promise<ArrayBuffer> } | undefined>;
  put(key: string, response: unknown): Promise<void>;
}

async function openCache(): Promise<CacheLike | undefined> {
  const caches = (globalThis as { caches?: { open(name: string): Promise<CacheLike> } }).caches;
  try {
    return await caches?.open('cirrus-transpiled');
  } catch {
    // Storage can be refused (a private window, a full disk): transpiling still works, uncached.
    return undefined;
  }
}

export function servedTranspiler(
  options: ServedTranspilerOptions,
): (bytes: Uint8Array, digest: string) => Promise<Transpiled> {
  const endpoint = new URL(options.endpoint, (globalThis as { location?: { href: string } }).location?.href);
  return async (bytes, digest) => {
    const key = new URL(`${digest.replace(/^sha256:/, '')}-${options.fingerprint}`, endpoint).href;
    const cache = await openCache();
    const cached = await cache?.match(key);
    if (cached !== undefined) {
      return { ...decodeTranspiled(new Uint8Array(await cached.arrayBuffer())), fromCache: true };
    }
    const response = await fetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/wasm' },
      body: bytes as Uint8Array<ArrayBuffer>,
    });
    if (!response.ok) throw await failure(response);
    const body = new Uint8Array(await response.arrayBuffer());
    const entry = decodeTranspiled(body);
    await cache
      ?.put(key, new Response(body, { headers: { 'content-type': TRANSPILED_MEDIA_TYPE } }))
      .catch(() => undefined);
    return { ...entry, fromCache: false };
  };
}

/** The host's own error (MALFORMED_COMPONENT, …) when it sent one. */
async function failure(response: Response): Promise<Error> {
  try {
    const { error } = (await response.json()) as { error?: ErrorJSON };
    if (typeof error?.code === 'string' && typeof error.message === 'string') return errorFromJSON(error);
  } catch {
    // Not JSON: the status says enough.
  }
  return new ArtifactFetchFailedError(
    `the host could not transpile the component (HTTP ${response.status})`,
    {
      hint: 'check the log of the host that served this page',
    },
  );
}
