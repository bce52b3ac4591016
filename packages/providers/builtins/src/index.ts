/**
 * The providers that ship with Cirrus, for whoever composes a host: `cirrus up` hands them to
 * `createHost` as its built-ins (`wasmcloud+builtin://<name>`), with the wire bindings that carry
 * their interfaces between hosts.
 */
import type { BuiltinProvider, WireBinding } from '@cirrus/provider-core';
import { blobstoreBinding, blobstoreProvider } from '@cirrus/provider-blobstore';
import { configProvider } from '@cirrus/provider-config';
import { httpClientBinding, httpClientProvider } from '@cirrus/provider-http-client';
import { httpServerProvider } from '@cirrus/provider-http-server';
import {
  keyValueBinding,
  keyValueNatsProvider,
  keyValueProvider,
  keyValueRedisProvider,
} from '@cirrus/provider-keyvalue';
import { loggingProvider } from '@cirrus/provider-logging';
import { messagingProvider } from '@cirrus/provider-messaging';

export { DEFAULT_HTTP_ADDRESS } from '@cirrus/provider-http-server';

/**
 * Built-in providers by the name in `wasmcloud+builtin://<name>`. `keyvalue-nats` and `keyvalue-redis`
 * are the key-value provider reading the config of the wasmCloud providers whose images start them.
 */
export const BUILTIN_PROVIDERS: Readonly<Record<string, BuiltinProvider>> = {
  'http-server': httpServerProvider,
  'http-client': httpClientProvider,
  keyvalue: keyValueProvider,
  'keyvalue-nats': keyValueNatsProvider,
  'keyvalue-redis': keyValueRedisProvider,
  logging: loggingProvider,
  config: configProvider,
  messaging: messagingProvider,
  blobstore: blobstoreProvider,
};

/** Interfaces whose calls between hosts take another form than themselves. */
export const WIRE_BINDINGS: readonly WireBinding[] = [keyValueBinding, httpClientBinding, blobstoreBinding];
