/** How a provider reference names a built-in: `wasmcloud+builtin://<name>`, or a 1.x image it replaces. */
export const BUILTIN_SCHEME = 'wasmcloud+builtin://';

/**
 * wasmCloud's published provider images that a built-in replaces, so existing manifests deploy
 * unchanged: `ghcr.io/wasmcloud/http-server:0.23.0` runs the built-in HTTP server. The key-value
 * images have built-ins of their own, since their link config differs from the built-in's; the
 * messaging provider reads messaging-nats's `subscriptions` as it is.
 */
const IMAGE_ALIASES: ReadonlyMap<string, string> = new Map([
  ['http-server', 'http-server'],
  ['blobstore-fs', 'blobstore'],
  ['http-client', 'http-client'],
  ['keyvalue-nats', 'keyvalue-nats'],
  ['keyvalue-redis', 'keyvalue-redis'],
  ['messaging-nats', 'messaging'],
]);

/** `[oci://]ghcr.io/wasmcloud/<image>[:tag]`, capturing the image name. */
const WASMCLOUD_IMAGE = /^(?:oci:\/\/)?ghcr\.io\/wasmcloud\/([\w.-]+)(?::[\w.-]+)?$/;

/** The built-in name a provider reference selects, or undefined when it is not a built-in. */
export function builtinName(ref: string): string | undefined {
  if (ref.startsWith(BUILTIN_SCHEME)) return ref.slice(BUILTIN_SCHEME.length);
  const image = WASMCLOUD_IMAGE.exec(ref)?.[1];
  return image === undefined ? undefined : IMAGE_ALIASES.get(image);
}
