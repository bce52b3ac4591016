/**
 * `@cirrus/host` in a browser (the package's `browser` export condition): the same host, composed
 * with the browser's platform (platform/browser.ts); what only Node can run is not exported.
 */
export { createHost } from './host.ts';
export type { HostOptions } from './host.ts';
export type { Host, HostStopOptions, LinkDeletionTarget } from './host-api.ts';
export type { ScaleComponentCommand, UpdateComponentCommand } from './components.ts';
export type { PolicyOptions } from './policy.ts';
export type { CredentialSource, SignedInvocationOptions } from './invocation-signing.ts';
export { createLogger } from './logger.ts';
export type { LogFormat, LogLevel, LoggerOptions, LogRepeatLimit } from './logger.ts';
export { systemClock } from './ports.ts';
export type { Clock, EventSink } from './ports.ts';
export { VERSION } from './version.ts';
