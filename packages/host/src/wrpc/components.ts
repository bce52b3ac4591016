/**
 * Component calls across hosts (§4.1, §4.5 of the 1.x protocol). Each component's exports are served
 * on the lattice under `<lattice>.<component id>` in that id's queue group, so every host running the
 * component shares the calls; an import whose link target runs on no local workload is invoked there.
 * Both directions encode values from the WIT types decoded from the component binary, the calling
 * side from its imports and the serving side from its exports, as a 1.x host does with wasmtime's
 * type reflection.
 */
import {
  CirrusError,
  describeError,
  ImportFailedError,
  witInterfaceKey,
  wrpcExportInstance,
  wrpcImportTarget,
} from '@cirrus/protocol';
import type { Limits, Logger, WitFunction, WitInterface, WitType } from '@cirrus/protocol';
import { wrpcInvoke, wrpcServe } from '@cirrus/lattice';
import type {
  LatticeConnection,
  Subscription,
  WrpcHandler,
  WrpcInvocation,
  WrpcServeOptions,
} from '@cirrus/lattice';
import type { ImportCall } from '@cirrus/runtime';

/** What a host needs to make calls to targets elsewhere in the lattice. */
export interface CrossHostOptions {
  connection: LatticeConnection;
  lattice: string;
  limits: Limits;
  /** Where failed calls that reach the guest as its own error are recorded. */
  logger?: Logger;
  /** Signs each invocation sent (signed invocations). */
  sign?: WrpcInvocation['sign'];
}

export interface ComponentWrpcOptions extends CrossHostOptions {
  logger: Logger;
  /** Checks each invocation served (required signed invocations). */
  verify?: WrpcServeOptions['verify'];
}

export interface CrossHostCall {
  targetId: string;
  /** The wRPC instance invoked, e.g. `wrpc:keyvalue/atomics@0.2.0-draft`. */
  instance: string;
  fn: WitFunction;
  args: unknown[];
  sourceId: string;
  linkName: string;
}

/**
 * One call to a target elsewhere in the lattice, returning its single result. A failure on the way
 * reaches the guest as the function's own error where its type has room for one (see
 * `failureAsResult`); otherwise it is thrown, and the guest traps.
 */
export async function invokeAcrossHosts(options: CrossHostOptions, call: CrossHostCall): Promise<unknown> {
  try {
    const [result] = await wrpcInvoke(options.connection, {
      ...call,
      lattice: options.lattice,
      timeoutMs: options.limits.invocationTimeoutMs,
      maxBytes: options.limits.wrpcMaxValueBytes,
      sign: options.sign,
    });
    return result;
  } catch (err) {
    const failed = failureAsResult(call.fn, err);
    if (failed === undefined) throw err;
    options.logger?.warn('call across hosts failed', {
      source: call.sourceId,
      target: call.targetId,
      function: `${call.instance}.${call.fn.name}`,
      error: describeError(err),
    });
    return failed;
  }
}

/** Resources are handles into one instance's table; a handle means nothing to another host. */
function carriesHandle(type: WitType): boolean {
  switch (type.kind) {
    case 'own':
    case 'borrow':
      return true;
    case 'list':
    case 'stream':
      return carriesHandle(type.element);
    case 'option':
      return carriesHandle(type.type);
    case 'future':
      return type.type !== undefined && carriesHandle(type.type);
    case 'result':
      return (
        (type.ok !== undefined && carriesHandle(type.ok)) ||
        (type.err !== undefined && carriesHandle(type.err))
      );
    case 'record':
      return type.fields.some((f) => carriesHandle(f.type));
    case 'tuple':
      return type.types.some(carriesHandle);
    case 'variant':
      return type.cases.some((c) => c.type !== undefined && carriesHandle(c.type));
    default:
      return false;
  }
}

export function crossesHosts(fn: WitFunction): boolean {
  return !fn.params.some((p) => carriesHandle(p.type)) && !fn.results.some(carriesHandle);
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
 * A failed call across hosts (timeout, nothing serving, a failing target) as the function's own
 * error, where its WIT type has a place for a message: `result<_, string>`, or an error variant
 * with an `other(string)` case (wasi:keyvalue, wasi:blobstore). Otherwise undefined: the guest traps.
 */
export function failureAsResult(fn: WitFunction, err: unknown): unknown {
  const [type] = fn.results;
  if (fn.results.length !== 1 || type?.kind !== 'result' || type.err === undefined) return undefined;
  const message = err instanceof CirrusError ? `${err.code}: ${err.message}` : String(err);
  if (type.err.kind === 'string') return { tag: 'err', val: message };
  if (type.err.kind === 'variant') {
    const other = type.err.cases.find((c) => c.name === 'other' && c.type?.kind === 'string');
    if (other !== undefined) return { tag: 'err', val: { tag: 'other', val: message } };
  }
  return undefined;
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
    if (wrpcExportInstance(instance).functions !== undefined) continue;
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
        instance,
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
  if (instance === undefined || fn === undefined || call.resource !== undefined) {
    throw new ImportFailedError(
      `${source.sourceId} calls ${call.interface}#${call.resource === undefined ? '' : `${call.resource}.`}${call.fn} on ${targetId}, whose WIT type is unknown here`,
      { hint: `run ${targetId} on this host; resources do not cross hosts` },
    );
  }
  if (!crossesHosts(fn)) {
    throw new ImportFailedError(`${call.interface}#${call.fn} passes resources, which cannot cross hosts`, {
      hint: `run ${targetId} on the same host as ${source.sourceId}`,
    });
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
