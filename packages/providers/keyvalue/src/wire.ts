/**
 * wasi:keyvalue across hosts. On the lattice the interfaces are `wrpc:keyvalue/{store,atomics,batch}`
 * (§4.5; `batch` too), where a bucket travels as its name instead of a resource handle. The calling host keeps
 * the guest's `bucket` resource locally (opening sends nothing) and sends each operation with the
 * bucket name; the host running the provider serves them with the link's backend.
 */
import { parseWit } from '@cirrus/protocol';
import type { WitFunction } from '@cirrus/protocol';
import { HostResource } from '@cirrus/runtime';
import type { ImportCall } from '@cirrus/runtime';
import { invokeAcrossHosts } from '@cirrus/provider-core';
import type { CallSource, CrossHostOptions, WireBinding } from '@cirrus/provider-core';

export const WRPC_STORE = 'wrpc:keyvalue/store@0.2.0-draft';
export const WRPC_ATOMICS = 'wrpc:keyvalue/atomics@0.2.0-draft';
export const WRPC_BATCH = 'wrpc:keyvalue/batch@0.2.0-draft';

const WIT = `
package wrpc:keyvalue@0.2.0-draft;

interface store {
  variant error { no-such-store, access-denied, other(string) }
  record key-response { keys: list<string>, cursor: option<u64> }
  get: func(bucket: string, key: string) -> result<option<list<u8>>, error>;
  set: func(bucket: string, key: string, value: list<u8>) -> result<_, error>;
  delete: func(bucket: string, key: string) -> result<_, error>;
  exists: func(bucket: string, key: string) -> result<bool, error>;
  list-keys: func(bucket: string, cursor: option<u64>) -> result<key-response, error>;
}

interface atomics {
  variant error { no-such-store, access-denied, other(string) }
  increment: func(bucket: string, key: string, delta: u64) -> result<u64, error>;
}

interface batch {
  variant error { no-such-store, access-denied, other(string) }
  get-many: func(bucket: string, keys: list<string>) -> result<list<option<tuple<string, list<u8>>>>, error>;
  set-many: func(bucket: string, key-values: list<tuple<string, list<u8>>>) -> result<_, error>;
  delete-many: func(bucket: string, keys: list<string>) -> result<_, error>;
}
`;

const document = parseWit(WIT);

function functionsOf(name: string): ReadonlyMap<string, WitFunction> {
  const iface = document.interfaces.find((i) => i.name === name);
  if (iface === undefined) throw new Error(`wrpc:keyvalue/${name} is missing from the built-in WIT`);
  return iface.functions;
}

export const STORE_FUNCTIONS = functionsOf('store');
export const ATOMICS_FUNCTIONS = functionsOf('atomics');
export const BATCH_FUNCTIONS = functionsOf('batch');

/** The guest's bucket on the calling host: which target serves it, through which link. */
interface RemoteBucket {
  targetId: string;
  linkName: string;
  name: string;
}

/** Carries a component's wasi:keyvalue imports to a provider on another host, as wrpc:keyvalue. */
export const keyValueBinding: WireBinding = {
  interfaces: ['wasi:keyvalue/store', 'wasi:keyvalue/atomics', 'wasi:keyvalue/batch'],
  invoke: remoteKeyValue,
};

async function remoteKeyValue(
  options: CrossHostOptions,
  targetId: string,
  call: ImportCall,
  source: CallSource,
): Promise<unknown> {
  const invoke = (instance: string, fn: WitFunction, args: unknown[]): Promise<unknown> =>
    invokeAcrossHosts(options, {
      targetId,
      instance,
      fn,
      args,
      sourceId: source.sourceId,
      linkName: source.linkName,
    });
  if (call.interface === 'wasi:keyvalue/store' && call.resource === undefined && call.fn === 'open') {
    const bucket: RemoteBucket = { targetId, linkName: source.linkName, name: String(call.args[0]) };
    return { tag: 'ok', val: new HostResource('wasi:keyvalue/store', 'bucket', bucket) };
  }
  if (call.interface === 'wasi:keyvalue/store' && call.resource === 'bucket') {
    const bucket = call.self as RemoteBucket;
    const fn = STORE_FUNCTIONS.get(call.fn);
    if (fn === undefined) throw new Error(`wasi:keyvalue/store has no method ${call.fn}`);
    return invoke(WRPC_STORE, fn, [bucket.name, ...call.args]);
  }
  if (call.interface === 'wasi:keyvalue/atomics' && call.fn === 'increment') {
    const [bucket, ...rest] = call.args as [RemoteBucket, ...unknown[]];
    return invoke(WRPC_ATOMICS, ATOMICS_FUNCTIONS.get('increment') as WitFunction, [bucket.name, ...rest]);
  }
  if (call.interface === 'wasi:keyvalue/batch') {
    const [bucket, ...rest] = call.args as [RemoteBucket, ...unknown[]];
    const fn = BATCH_FUNCTIONS.get(call.fn);
    if (fn === undefined) throw new Error(`wasi:keyvalue/batch has no function ${call.fn}`);
    return invoke(WRPC_BATCH, fn, [bucket.name, ...rest]);
  }
  throw new Error(`${call.interface}#${call.fn} is not served across hosts yet`);
}
