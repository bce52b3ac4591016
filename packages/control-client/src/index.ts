/**
 * @cirrus/control-client: manage a wasmCloud 1.x lattice (Cirrus or wasmCloud hosts) through the
 * control interface and watch its events. Wire types (HostInfo, HostInventory, Link, CloudEvent, …)
 * come from @cirrus/protocol; the connection from @cirrus/lattice.
 */
export { createControlClient } from './client.ts';
export type {
  ComponentAuctionParams,
  ControlAck,
  ControlClient,
  ControlClientOptions,
  ProviderAuctionParams,
  ScaleComponentParams,
  ScaleOptions,
  ScaleResult,
  StartProviderParams,
  StopProviderParams,
  UpdateComponentParams,
} from './client.ts';
export type { EventStream, EventStreamOptions, WaitForEventOptions } from './events.ts';
