import type { BuiltinProvider } from './types.ts';
import { httpServerProvider } from './http-server/index.ts';
import { httpClientProvider } from './http-client-provider.ts';
import { blobstoreProvider } from './blobstore/index.ts';
import { configProvider } from './config-provider.ts';
import { keyValueProvider } from './keyvalue-provider.ts';
import { loggingProvider } from './logging-provider.ts';
import { messagingProvider } from './messaging-provider.ts';

export const BUILTIN_SCHEME = 'wasmcloud+builtin://';

/** Providers that ship inside the host, by the name in `wasmcloud+builtin://<name>`. */
export const BUILTIN_PROVIDERS: Readonly<Record<string, BuiltinProvider>> = {
  'http-server': httpServerProvider,
  'http-client': httpClientProvider,
  keyvalue: keyValueProvider,
  logging: loggingProvider,
  config: configProvider,
  messaging: messagingProvider,
  blobstore: blobstoreProvider,
};

/**
 * wasmCloud's published provider images that a built-in replaces, so existing manifests deploy
 * unchanged: `ghcr.io/wasmcloud/http-server:0.23.0` runs the built-in HTTP server.
 */
const IMAGE_ALIASES: readonly [RegExp, string][] = [
  [/^(?:oci:\/\/)?ghcr\.io\/wasmcloud\/http-server(?::[\w.-]+)?$/, 'http-server'],
  [/^(?:oci:\/\/)?ghcr\.io\/wasmcloud\/blobstore-fs(?::[\w.-]+)?$/, 'blobstore'],
  [/^(?:oci:\/\/)?ghcr\.io\/wasmcloud\/http-client(?::[\w.-]+)?$/, 'http-client'],
];

/** The built-in name a provider reference selects, or undefined when it is not a built-in. */
export function builtinName(ref: string): string | undefined {
  if (ref.startsWith(BUILTIN_SCHEME)) return ref.slice(BUILTIN_SCHEME.length);
  return IMAGE_ALIASES.find(([pattern]) => pattern.test(ref))?.[1];
}
