import type { Limits, Logger, StringMap } from '@cirrus/protocol';
import type { ComponentRuntime } from '@cirrus/runtime';
import type { BuiltinProvider } from '@cirrus/provider-core';
import type { ExternalProviderOptions } from '../providers/external.ts';
import type { SigningPrimitives } from '../invocation-signing.ts';

/**
 * What a host does differently on Node and in a browser tab. The host package's `#platform` import
 * picks node.ts or browser.ts by the `browser` export condition, so a browser bundle never reaches
 * Node's modules.
 */
export interface HostPlatform {
  /** The `hostcore.*` labels every 1.x host reports. */
  hostcoreLabels(): StringMap;
  /** The file a provider reference names (`file:///…`, a path), or undefined for other references. */
  providerProgram(ref: string): string | undefined;
  /** The provider a program file runs as a process. */
  externalProvider(ref: string, program: string, options: ExternalProviderOptions): BuiltinProvider;
  /** The runtime a host makes for itself when it is given none. */
  createRuntime(options: { cacheDir: string | undefined; limits: Limits; logger: Logger }): ComponentRuntime;
  /** Ed25519 and SHA-256 for signed invocations. */
  signing: SigningPrimitives;
}
