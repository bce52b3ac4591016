/** How a provider reference names a built-in: `wasmcloud+builtin://<name>`, or a 1.x image it replaces. */
export const BUILTIN_SCHEME = 'wasmcloud+builtin://';

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
