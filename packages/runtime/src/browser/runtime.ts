/**
 * The runtime in a browser tab: components from http(s) URLs (fetch, so the server must allow the
 * page's origin), transpiled by the host that served the page (transpiler.ts), instances in Web
 * Workers. No files, no on-disk caches, no source maps (the tab's devtools show the guest's frames).
 */
import {
  DEFAULT_LIMITS,
  FileLoadDeniedError,
  UnsupportedReferenceError,
  webCryptoBytes,
} from '@cirrus/protocol';
import { fetchLimited } from '../fetch-artifact.ts';
import { createRuntime } from '../runtime.ts';
import type { Artifact, ArtifactLoadOptions, ComponentRuntime, RuntimeOptions } from '../runtime.ts';
import { servedTranspiler } from './transpiler.ts';
import type { ServedTranspilerOptions } from './transpiler.ts';
import { webWorkerSpawner } from './web-worker.ts';

export interface BrowserRuntimeOptions extends RuntimeOptions {
  transpiler: ServedTranspilerOptions;
  /** The instance worker's script (the bundle of browser/worker.ts). */
  workerUrl: string | URL;
}

async function loadArtifact(ref: string, options: ArtifactLoadOptions): Promise<Artifact> {
  if (ref.startsWith('file:') || ref.startsWith('/') || ref.startsWith('.')) {
    throw new FileLoadDeniedError(`a browser host cannot read files (${ref})`, {
      hint: 'serve the component over http(s), from a server that allows this page’s origin (CORS)',
    });
  }
  if (!ref.startsWith('http://') && !ref.startsWith('https://')) {
    throw new UnsupportedReferenceError(`cannot load ${JSON.stringify(ref)}: unsupported reference`, {
      hint: 'a browser host loads components from http(s) URLs',
    });
  }
  const bytes = await fetchLimited(new URL(ref), ref, options);
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', webCryptoBytes(bytes)));
  return { ref, bytes, digest: `sha256:${[...digest].map((b) => b.toString(16).padStart(2, '0')).join('')}` };
}

const inSameContext = <R>(fn: () => R): R => fn();

export function createComponentRuntime(options: BrowserRuntimeOptions): ComponentRuntime {
  const limits = options.limits ?? DEFAULT_LIMITS;
  const navigatorCores = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator
    ?.hardwareConcurrency;
  return createRuntime(options, {
    loadArtifact,
    transpile: servedTranspiler(options.transpiler),
    spawnWorker: webWorkerSpawner({
      workerUrl: options.workerUrl,
      replyMaxBytes: limits.instanceMemoryMaxBytes,
    }),
    parallelism: Math.max(1, Math.min(navigatorCores ?? 2, 4)),
    compileCacheDir: () => undefined,
    sourceLocator: () => undefined,
    snapshotContext: () => inSameContext,
  });
}
