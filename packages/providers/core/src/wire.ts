/**
 * Calls to targets elsewhere in the lattice, for the host's call path and for the wire bindings of
 * providers: one invocation, a failure turned into the function's own error where its type has room
 * for one, and whether a function's values can cross hosts at all.
 */
import { CirrusError, describeError } from '@cirrus/protocol';
import type { Limits, Logger, WitFunction, WitType } from '@cirrus/protocol';
import { wrpcInvoke } from '@cirrus/lattice';
import type { LatticeConnection, WrpcInvocation } from '@cirrus/lattice';

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
      streamLimits: options.limits,
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
