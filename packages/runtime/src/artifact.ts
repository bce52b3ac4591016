/**
 * Fetches component bytes from a local path or an http(s) URL, enforcing the size limit while
 * reading (a huge download is cut off, not buffered) and the fetch deadline.
 */
import { createHash } from 'node:crypto';
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ArtifactFetchFailedError,
  ArtifactNotFoundError,
  ArtifactTooLargeError,
  FileLoadDeniedError,
  FileNotFoundError,
  FileTooLargeError,
  UnsupportedReferenceError,
} from '@cirrus/protocol';
import { readRegularFile } from './files.ts';

export interface Artifact {
  /** The reference as given. */
  ref: string;
  bytes: Uint8Array;
  /** `sha256:<hex>` of the bytes. */
  digest: string;
}

export interface LoadOptions {
  maxBytes: number;
  fetchTimeoutMs: number;
  allowFileLoad: boolean;
  signal?: AbortSignal | undefined;
}

type Location = { kind: 'file'; path: string } | { kind: 'http'; url: URL };

export function locate(ref: string): Location {
  if (ref.startsWith('file://')) {
    try {
      return { kind: 'file', path: fileURLToPath(ref) };
    } catch {
      throw new UnsupportedReferenceError(`cannot read file reference ${JSON.stringify(ref)}`, {
        hint: 'use an absolute file URL such as file:///srv/components/hello.wasm',
      });
    }
  }
  if (ref.startsWith('http://') || ref.startsWith('https://')) return { kind: 'http', url: new URL(ref) };
  if (isAbsolute(ref) || ref.startsWith('./') || ref.startsWith('../'))
    return { kind: 'file', path: resolve(ref) };
  throw new UnsupportedReferenceError(`cannot load ${JSON.stringify(ref)}: unsupported reference`, {
    hint: 'use a file path, a file:// URL or an http(s):// URL; OCI registries are not supported yet',
  });
}

function tooLarge(ref: string, maxBytes: number): ArtifactTooLargeError {
  return new ArtifactTooLargeError(`${ref} is larger than the ${maxBytes}-byte limit`, {
    hint: 'shrink the component (strip debug info, optimise) or raise componentMaxBytes',
  });
}

async function readComponentFile(path: string, ref: string, maxBytes: number): Promise<Uint8Array> {
  try {
    return await readRegularFile(path, { what: 'component file', maxBytes });
  } catch (err) {
    if (err instanceof FileNotFoundError) {
      throw new ArtifactNotFoundError(`component file ${path} does not exist`, {
        hint: 'check the path; relative paths in a manifest are resolved from the manifest file',
      });
    }
    if (err instanceof FileTooLargeError) throw tooLarge(ref, maxBytes);
    throw err;
  }
}

async function fetchLimited(url: URL, ref: string, options: LoadOptions): Promise<Uint8Array> {
  let response: Response;
  try {
    const deadline = AbortSignal.timeout(options.fetchTimeoutMs);
    const signal = options.signal === undefined ? deadline : AbortSignal.any([deadline, options.signal]);
    response = await fetch(url, { signal, redirect: 'follow' });
  } catch (err) {
    const reason =
      (err as Error).name === 'TimeoutError' ? `timed out after ${options.fetchTimeoutMs} ms` : String(err);
    throw new ArtifactFetchFailedError(`cannot download ${ref}: ${reason}`, {
      hint: 'check the URL and that the server is reachable from this host',
    });
  }
  if (!response.ok) {
    throw new ArtifactFetchFailedError(
      `cannot download ${ref}: HTTP ${response.status} ${response.statusText}`,
      {
        hint: 'check the URL',
      },
    );
  }
  const declared = Number(response.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > options.maxBytes) {
    await response.body?.cancel();
    throw tooLarge(ref, options.maxBytes);
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for await (const chunk of (response.body ?? []) as AsyncIterable<Uint8Array>) {
      total += chunk.byteLength;
      if (total > options.maxBytes) throw tooLarge(ref, options.maxBytes);
      chunks.push(chunk);
    }
  } catch (err) {
    if (err instanceof ArtifactTooLargeError) throw err;
    throw new ArtifactFetchFailedError(`download of ${ref} failed after ${total} bytes: ${String(err)}`, {
      hint: 'retry; the connection was interrupted or timed out',
    });
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    bytes.set(c, offset);
    offset += c.byteLength;
  }
  return bytes;
}

export function digestOf(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export async function loadArtifact(ref: string, options: LoadOptions): Promise<Artifact> {
  const location = locate(ref);
  let bytes: Uint8Array;
  if (location.kind === 'file') {
    if (!options.allowFileLoad) {
      throw new FileLoadDeniedError(`this host does not load components from files (${ref})`, {
        hint: 'start the host with file loading allowed (cirrus up allows it by default) or serve the file over http(s)',
      });
    }
    bytes = await readComponentFile(location.path, ref, options.maxBytes);
  } else {
    bytes = await fetchLimited(location.url, ref, options);
  }
  return { ref, bytes, digest: digestOf(bytes) };
}
