/**
 * Component calls across hosts (§4.1, §4.5 of the 1.x protocol). Each component's exports are served
 * on the lattice under `<lattice>.<component id>` in that id's queue group, so every host running the
 * component shares the calls; an import whose link target runs on no local workload is invoked there.
 * Both directions encode values from the WIT types decoded from the component binary, the calling
 * side from its imports and the serving side from its exports, as a 1.x host does with wasmtime's
 * type reflection.
 */
import {
  ImportFailedError,
  parseWit,
  ResourceNotRoutableError,
  witInstanceName,
  witInterfaceKey,
  wrpcExportInstance,
  wrpcImportTarget,
} from '@cirrus/protocol';
import type { Logger, WitFunction, WitInterface } from '@cirrus/protocol';
import { wrpcServe } from '@cirrus/lattice';
import type { Subscription, WrpcHandler, WrpcServeOptions } from '@cirrus/lattice';
import { crossesHosts, invokeAcrossHosts } from '@cirrus/provider-core';
import type { CapabilityProvider, CrossHostOptions } from '@cirrus/provider-core';
import { callName } from '@cirrus/runtime';
import type { ImportCall } from '@cirrus/runtime';
import { observe } from '../metrics.ts';
import type { InvocationTally } from '../metrics.ts';

const MESSAGING_HANDLER = 'wasmcloud:messaging/handler@0.2.0';

export interface ComponentWrpcOptions extends CrossHostOptions {
  logger: Logger;
  /** Checks each invocation served (required signed invocations). */
  verify?: WrpcServeOptions['verify'];
}

/**
 * An export call's return value as the tuple of results wRPC carries. The runtime returns the `ok`
 * value of a `result` bare (as jco does) and only its `err` tagged, so the `ok` is tagged here.
 */
function asResults(fn: WitFunction, value: unknown): unknown[] {
  const [type] = fn.results;
  if (type === undefined) return [];
  if (type.kind !== 'result') return [value];
  const isErr = typeof value === 'object' && value !== null && (value as { tag?: unknown }).tag === 'err';
  return [isErr ? value : { tag: 'ok', val: value }];
}

/**
 * Serves the exports of a component running here (those 1.x serves under their own name; HTTP,
 * messaging and watcher exports have wRPC-native forms of their own). Returns the subscriptions.
 * `authorize` (the policy service) is awaited before each invocation; a rejection fails the call,
 * which the caller sees as WRPC_CALL_FAILED.
 */
export function serveComponentExports(
  options: ComponentWrpcOptions,
  componentId: string,
  exports: ReadonlyMap<string, WitInterface>,
  invoke: (exportInterface: string, fn: string, args: unknown[]) => Promise<unknown>,
  authorize?: (instance: string, fn: string) => Promise<void>,
): Subscription[] {
  const subscriptions: Subscription[] = [];
  for (const [instance, iface] of exports) {
    const served = wrpcExportInstance(instance);
    // Translated exports (HTTP, the keyvalue watcher) have wire forms of their own; the messaging
    // handler of 0.2.0 is served under its own name with its own shapes.
    if (served.functions !== undefined && instance !== MESSAGING_HANDLER) continue;
    const unversioned = witInterfaceKey(instance);
    const handlers = new Map<string, WrpcHandler>();
    for (const fn of iface.functions.values()) {
      if (!crossesHosts(fn)) continue;
      handlers.set(fn.name, {
        fn,
        handle: async (args) => {
          await authorize?.(instance, fn.name);
          return asResults(fn, await invoke(unversioned, fn.name, args));
        },
      });
    }
    if (handlers.size === 0) continue;
    subscriptions.push(
      wrpcServe(options.connection, {
        lattice: options.lattice,
        id: componentId,
        instance: served.instance,
        handlers,
        logger: options.logger,
        maxBytes: options.limits.wrpcMaxValueBytes,
        maxPayload: options.connection.maxPayload,
        timeoutMs: options.limits.invocationTimeoutMs,
        verify: options.verify,
      }),
    );
  }
  return subscriptions;
}

/**
 * Invokes a component's import on a target elsewhere in the lattice, typed by the calling component's
 * own import of the interface.
 */
export async function invokeRemoteImport(
  options: ComponentWrpcOptions,
  imports: ReadonlyMap<string, WitInterface>,
  targetId: string,
  call: ImportCall,
  source: { sourceId: string; linkName: string },
): Promise<unknown> {
  const instance = [...imports.keys()].find((name) => witInterfaceKey(name) === call.interface);
  const fn = instance === undefined ? undefined : imports.get(instance)?.functions.get(call.fn);
  // A resource lives in the memory of one instance on its host (adr/0008).
  if (call.resource !== undefined || (fn !== undefined && !crossesHosts(fn))) {
    throw new ResourceNotRoutableError(
      `${callName(call.interface, call.fn, call.resource)} passes resources to ${targetId}, which runs on another host`,
      {
        hint: `resources do not cross hosts: run ${targetId} on the same host as ${source.sourceId}`,
        details: { interface: call.interface, function: call.fn, resource: call.resource ?? null },
      },
    );
  }
  if (instance === undefined || fn === undefined) {
    throw new ImportFailedError(
      `${source.sourceId} calls ${call.interface}#${call.fn} on ${targetId}, whose WIT type is unknown here`,
      { hint: `run ${targetId} on this host` },
    );
  }
  return invokeAcrossHosts(options, {
    targetId,
    instance: wrpcImportTarget(instance).instance,
    fn,
    args: call.args,
    sourceId: source.sourceId,
    linkName: source.linkName,
  });
}

/** A provider handler's return value as the tuple of results: its `result`s come tagged already. */
function providerResults(fn: WitFunction, value: unknown): unknown[] {
  const [type] = fn.results;
  if (type === undefined) return [];
  const tagged =
    typeof value === 'object' &&
    value !== null &&
    ['ok', 'err'].includes(String((value as { tag?: unknown }).tag));
  return [type.kind === 'result' && !tagged ? { tag: 'ok', val: value } : value];
}

/**
 * Serves the interfaces a provider running here declares in its `wit` to components on other hosts,
 * in the provider id's queue group, with the handlers of its `exports`. A remote caller has no
 * component config here: `componentConfig` is empty for it.
 */
export function serveProviderExports(
  options: ComponentWrpcOptions,
  providerId: string,
  provider: CapabilityProvider,
  tally: InvocationTally,
): Subscription[] {
  if (provider.wit === undefined || provider.exports === undefined) return [];
  const subscriptions: Subscription[] = [];
  for (const iface of parseWit(provider.wit).interfaces) {
    const table = provider.exports[`${iface.package?.namespace}:${iface.package?.name}/${iface.name}`];
    if (table === undefined) continue;
    const handlers = new Map<string, WrpcHandler>();
    for (const fn of iface.functions.values()) {
      const run = table[fn.name];
      if (run === undefined) continue;
      handlers.set(fn.name, {
        fn,
        handle: async (args, caller) => {
          const source = { ...caller, invocation: 0, componentConfig: async () => ({}) };
          const results = await observe(
            tally,
            { idAttribute: 'cirrus.provider_id', id: providerId },
            `${iface.package?.namespace}:${iface.package?.name}/${iface.name}`,
            fn.name,
            async () => run(source, ...(args as never[])),
          );
          return providerResults(fn, results);
        },
      });
    }
    subscriptions.push(
      wrpcServe(options.connection, {
        lattice: options.lattice,
        id: providerId,
        instance: witInstanceName(iface),
        handlers,
        logger: options.logger,
        maxBytes: options.limits.wrpcMaxValueBytes,
        maxPayload: options.connection.maxPayload,
        timeoutMs: options.limits.invocationTimeoutMs,
        verify: options.verify,
      }),
    );
  }
  return subscriptions;
}
