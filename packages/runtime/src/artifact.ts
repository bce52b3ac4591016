/**
 * Fetches component bytes on Node: from a local path, or an http(s) URL (fetch-artifact.ts).
 */
import { createHash } from 'node:crypto';
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ArtifactNotFoundError,
  FileLoadDeniedError,
  FileNotFoundError,
  FileTooLargeError,
  UnsupportedReferenceError,
} from '@cirrus/protocol';
import { readRegularFile } from './files.ts';
import { fetchLimited, tooLarge } from './fetch-artifact.ts';
import type { Artifact, ArtifactLoadOptions as LoadOptions } from './runtime.ts';

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
