/**
 * The runtime on Node: components from files or http(s), transpiled once and kept in an on-disk
 * cache by digest, instances in worker threads with V8 heap limits.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import { availableParallelism, homedir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '@cirrus/protocol';
import type { Logger } from '@cirrus/protocol';
import { loadArtifact } from './artifact.ts';
import { ComponentCache } from './component-cache.ts';
import { spawnNodeWorker } from './node-worker.ts';
import { createRuntime } from './runtime.ts';
import type { ComponentRuntime, RuntimeOptions } from './runtime.ts';
import { sourceLocator } from './source-map.ts';
import { fingerprint, transpileCached } from './transpile.ts';
import { encodeTranspiled } from './browser/transpiler.ts';
import { assertComponent } from './wasm-binary.ts';

export function defaultCacheDir(env: Readonly<Record<string, string | undefined>> = process.env): string {
  if (env['CIRRUS_CACHE_DIR']) return env['CIRRUS_CACHE_DIR'];
  const base = env['XDG_CACHE_HOME'] || join(homedir(), '.cache');
  return join(base, 'cirrus');
}

export function createComponentRuntime(options: RuntimeOptions = {}): ComponentRuntime {
  const cache = new ComponentCache({
    dir: options.cacheDir ?? defaultCacheDir(),
    logger: options.logger ?? silentLogger,
  });
  return createRuntime(options, {
    loadArtifact,
    transpile: (bytes, digest) => transpileCached(bytes, digest, cache),
    spawnWorker: spawnNodeWorker,
    parallelism: availableParallelism(),
    // Asked at each start: a cache that stopped working is left alone by later workers.
    compileCacheDir: () => cache.compileCacheDir,
    sourceLocator,
    snapshotContext: () => AsyncLocalStorage.snapshot(),
  });
}

/** What a host that serves browser hosts transpiles for them (browser/transpiler.ts asks it). */
export interface BrowserTranspiler {
  /** Names the transpiler build: a tab keeps results under it. */
  fingerprint(): Promise<string>;
  /** A component's bindings and core modules, encoded for the tab; MALFORMED_COMPONENT or NOT_WASM for other bytes. */
  transpile(bytes: Uint8Array): Promise<Uint8Array>;
}

export function createBrowserTranspiler(
  options: { cacheDir?: string; logger?: Logger } = {},
): BrowserTranspiler {
  const cache = new ComponentCache({
    dir: options.cacheDir ?? defaultCacheDir(),
    logger: options.logger ?? silentLogger,
  });
  return {
    fingerprint,
    async transpile(bytes) {
      assertComponent(bytes, 'the uploaded component');
      const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
      const { bindings, coreModules, imports, exports } = await transpileCached(bytes, digest, cache);
      return encodeTranspiled({ bindings, coreModules, imports, exports });
    },
  };
}
