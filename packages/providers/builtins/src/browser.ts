/**
 * In a browser (the `browser` export condition): no built-in providers run in a tab, and its host
 * carries key-value and HTTP client calls to the Node hosts that run them. The blobstore binding
 * streams through temporary files, so a tab's blobstore calls stay unsupported.
 */
import type { BuiltinProvider, WireBinding } from '@cirrus/provider-core';
import { httpClientBinding } from '@cirrus/provider-http-client';
import { keyValueBinding } from '@cirrus/provider-keyvalue';

export const BUILTIN_PROVIDERS: Readonly<Record<string, BuiltinProvider>> = {};

export const WIRE_BINDINGS: readonly WireBinding[] = [keyValueBinding, httpClientBinding];
