export { BUILTIN_SCHEME, builtinName } from './builtin-names.ts';
export { exportFunctionName } from './contract.ts';
export type {
  BuiltinProvider,
  CallSource,
  CapabilityProvider,
  ComponentCalls,
  ExportHandler,
  ExportHandlers,
  ImportSource,
  ProviderContext,
  RemoteExport,
  ResolvedLink,
  WireBinding,
} from './contract.ts';
export { providerServeOptions } from './serve.ts';
export type { ProviderServeOptions } from './serve.ts';
export { crossesHosts, failureAsResult, invokeAcrossHosts } from './wire.ts';
export type { CrossHostCall, CrossHostOptions } from './wire.ts';
