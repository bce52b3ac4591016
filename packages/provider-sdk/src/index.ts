export { err, ok, runProvider } from './provider.ts';
export type {
  ExportHandler,
  ExportHandlers,
  InvocationContext,
  InvokeOptions,
  Provider,
  ProviderOptions,
} from './provider.ts';
export type { LinkRole } from './links.ts';
export { natsOptionsFromHostData } from './connect.ts';
export { readHostData } from './stdin.ts';
export type { HostDataSource } from './stdin.ts';
export type { HealthCheckResponse, HostData, InterfaceLinkDefinition } from '@cirrus/protocol';
