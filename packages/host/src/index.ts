export { createHost } from './host.ts';
export type { Host, HostOptions, HostStopOptions, LinkDeletionTarget } from './host.ts';
export { issueHostCredential, nodeInvocationCrypto } from './invocation-signing.ts';
export type { SignedInvocationOptions } from './invocation-signing.ts';
export type { ScaleComponentCommand, UpdateComponentCommand } from './components.ts';
export type { StartProviderCommand } from './providers/manager.ts';
export type { PolicyOptions } from './policy.ts';
export type { ProviderRpc } from './providers/external.ts';
export type {
  BuiltinProvider,
  CapabilityProvider,
  ComponentCalls,
  ProviderContext,
  ResolvedLink,
} from './providers/types.ts';
export { BUILTIN_PROVIDERS, BUILTIN_SCHEME } from './providers/builtin.ts';
export { DEFAULT_HTTP_ADDRESS } from './providers/http-server/index.ts';
export { createLogger } from './logger.ts';
export type { LogFormat, LogLevel, LoggerOptions, LogRepeatLimit } from './logger.ts';
export { systemClock } from './ports.ts';
export type { Clock, EventSink } from './ports.ts';
export { VERSION } from './version.ts';
export { defaultCacheDir } from '@cirrus/runtime';
