/**
 * wRPC over the lattice (§4.3 of the 1.x protocol): the invoker publishes the parameters with a
 * fresh inbox `R` as reply-to, the server answers with a handshake from its own inbox `S`, the
 * invoker ends the parameter stream on `S.params`, and the server writes the results to `R.results`,
 * closing the stream with an empty message. Values are encoded by the protocol package from the WIT
 * signature; only inline values are carried (no pending streams or futures yet).
 */
import {
  CirrusError,
  createWrpcByteStream,
  decodeWrpcParams,
  decodeWrpcResults,
  describeError,
  encodeWrpcParams,
  encodeWrpcResults,
  isWrpcTruncated,
  NoRespondersError,
  RequestTimeoutError,
  WrpcCallFailedError,
  wrpcChunks,
  wrpcInvocationHeaders,
  wrpcInvocationSubject,
  wrpcParamsSubject,
  wrpcQueueGroup,
  wrpcResultsSubject,
  WRPC_HEADER_LINK_NAME,
  WRPC_HEADER_SOURCE_ID,
} from '@cirrus/protocol';
import type { InvocationFields, Logger, WitFunction } from '@cirrus/protocol';
import { EMPTY } from './codec.ts';
import type { LatticeConnection, Msg, MsgHeaders, Subscription } from './port.ts';

export interface WrpcInvocation {
  lattice: string;
  targetId: string;
  /** wRPC instance name, e.g. `wrpc:keyvalue/store@0.2.0-draft`. */
  instance: string;
  fn: WitFunction;
  args: unknown[];
  sourceId: string;
  linkName: string;
  timeoutMs: number;
  maxBytes: number;
  /** Name the target in a `target-id` header too, as 1.x provider SDK clients do. */
  sendTargetId?: boolean;
  /** Headers to add, made from the invocation and all its parameter bytes (signed invocations). */
  sign?: (fields: InvocationFields, params: Uint8Array) => Promise<Record<string, string>>;
}

/** Reads an inbox stream until its empty terminator, or fails at the deadline. */
interface Collected {
  done: Promise<Uint8Array>;
  stop: () => void;
}

function collect(
  conn: LatticeConnection,
  subject: string,
  first: Uint8Array | undefined,
  maxBytes: number,
): Collected {
  const stream = createWrpcByteStream({ maxBytes, ...(first === undefined ? {} : { initial: first }) });
  let sub: Subscription | undefined;
  const done = new Promise<Uint8Array>((resolve, reject) => {
    sub = conn.subscribe(subject, {
      callback: (msg: Msg) => {
        try {
          if (stream.push(msg.data)) {
            sub?.unsubscribe();
            resolve(stream.bytes());
          }
        } catch (err) {
          sub?.unsubscribe();
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      },
    });
  });
  return { done, stop: () => sub?.unsubscribe() };
}

async function deadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new RequestTimeoutError(`${what} did not complete within ${ms} ms`, {
                hint: 'is the target running on a host of this lattice?',
              }),
            ),
          ms,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * One wildcard subscription per connection carries the handshake and results of every invocation
 * made on it, as wRPC's own clients do, instead of two subscriptions made and dropped per call.
 */
class InvocationInboxes {
  readonly #prefix: string;
  readonly #routes = new Map<string, (msg: Msg) => void>();
  #next = 0;

  constructor(conn: LatticeConnection) {
    this.#prefix = conn.newInbox();
    const start = this.#prefix.length + 1;
    conn.subscribe(`${this.#prefix}.>`, {
      callback: (msg) => {
        const dot = msg.subject.indexOf('.', start);
        this.#routes.get(msg.subject.slice(start, dot === -1 ? undefined : dot))?.(msg);
      },
    });
  }

  /** A fresh inbox whose messages (and those of its sub-subjects) go to `route` until closed. */
  open(route: (msg: Msg) => void): { inbox: string; close: () => void } {
    const id = (this.#next++).toString(36);
    this.#routes.set(id, route);
    return { inbox: `${this.#prefix}.${id}`, close: () => this.#routes.delete(id) };
  }
}

const inboxes = new WeakMap<LatticeConnection, InvocationInboxes>();

function inboxesOf(conn: LatticeConnection): InvocationInboxes {
  let found = inboxes.get(conn);
  if (found === undefined) {
    found = new InvocationInboxes(conn);
    inboxes.set(conn, found);
  }
  return found;
}

/** Invokes a function on the lattice and returns its decoded results. */
export async function wrpcInvoke(conn: LatticeConnection, call: WrpcInvocation): Promise<unknown[]> {
  const subject = wrpcInvocationSubject(call.lattice, call.targetId, call.instance, call.fn.name);
  const params = encodeWrpcParams(call.fn, call.args).bytes;
  const results = createWrpcByteStream({ maxBytes: call.maxBytes });
  let opened: { inbox: string; close: () => void } | undefined;
  const received = new Promise<Uint8Array>((resolve, reject) => {
    opened = inboxesOf(conn).open((msg) => {
      if (msg.subject === inbox) {
        // The server's "no responders" status is the only message without a reply subject here.
        if (msg.reply === undefined) {
          reject(
            new NoRespondersError(`nothing serves ${subject}`, {
              hint: `is ${call.targetId} running on a host (or as a provider) of lattice ${call.lattice}?`,
            }),
          );
          return;
        }
        // Every parameter fitted in the invocation; the empty message ends the parameter stream.
        conn.publish(wrpcParamsSubject(msg.reply), EMPTY);
        return;
      }
      try {
        if (msg.subject === resultsSubject && results.push(msg.data)) resolve(results.bytes());
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  });
  const { inbox, close } = opened as { inbox: string; close: () => void };
  const resultsSubject = wrpcResultsSubject(inbox);
  try {
    const signature =
      call.sign === undefined
        ? undefined
        : await call.sign(
            {
              lattice: call.lattice,
              targetId: call.targetId,
              instance: call.instance,
              fn: call.fn.name,
              sourceId: call.sourceId,
              linkName: call.linkName,
            },
            params,
          );
    // No flush: a server handles one connection's SUBs and PUBs in order, so the inbox is in place
    // before anything can answer the invocation.
    conn.publish(subject, params, {
      reply: inbox,
      headers: {
        ...wrpcInvocationHeaders({
          sourceId: call.sourceId,
          linkName: call.linkName,
          ...(call.sendTargetId === true ? { targetId: call.targetId } : {}),
        }),
        ...signature,
      },
    });
    const bytes = await deadline(received, call.timeoutMs, `wRPC call ${subject}`);
    if (bytes.byteLength === 0 && call.fn.results.length > 0) {
      throw new WrpcCallFailedError(`${call.targetId} failed to serve ${call.instance}.${call.fn.name}`, {
        hint: `the log of the host or provider running ${call.targetId} has the cause`,
      });
    }
    return decodeWrpcResults(call.fn, bytes).values;
  } finally {
    close();
  }
}

export interface WrpcHandler {
  fn: WitFunction;
  handle(args: unknown[], caller: { sourceId: string; linkName: string }): Promise<unknown[]>;
}

export interface WrpcServeOptions {
  lattice: string;
  id: string;
  instance: string;
  handlers: ReadonlyMap<string, WrpcHandler>;
  logger: Logger;
  maxBytes: number;
  maxPayload: number;
  timeoutMs: number;
  /**
   * Checks each invocation, with all its parameter bytes, before it is served (signed invocations); a
   * rejection refuses it: logged, and the result stream closed empty.
   */
  verify?: (
    fields: InvocationFields,
    headers: MsgHeaders | undefined,
    params: Uint8Array,
  ) => Promise<unknown>;
}

/** Serves functions of one instance for `id` in its queue group; returns the subscription. */
export function wrpcServe(conn: LatticeConnection, options: WrpcServeOptions): Subscription {
  // Every function of the instance: the function name is the last token.
  const subject = `${wrpcInvocationSubject(options.lattice, options.id, options.instance, 'x').slice(0, -1)}*`;
  return conn.subscribe(subject, {
    queue: wrpcQueueGroup(options.lattice, options.id),
    callback: (msg) => {
      void serveOne(conn, options, msg).catch((err: unknown) =>
        options.logger.warn('wRPC invocation failed', { subject: msg.subject, error: describeError(err) }),
      );
    },
  });
}

async function serveOne(conn: LatticeConnection, options: WrpcServeOptions, msg: Msg): Promise<void> {
  const reply = msg.reply;
  if (reply === undefined) return;
  const fnName = msg.subject.slice(msg.subject.lastIndexOf('.') + 1);
  const handler = options.handlers.get(fnName);
  if (handler === undefined) return;
  const inbox = conn.newInbox();
  // Parameters without pending streams usually fit the invocation itself: serving starts at once,
  // instead of one more round trip for the end-of-parameters message the invoker still sends.
  const early = completeParams(handler.fn, msg.data);
  const params =
    early === undefined ? collect(conn, wrpcParamsSubject(inbox), msg.data, options.maxBytes) : undefined;
  try {
    conn.publish(reply, EMPTY, { reply: inbox });
    const subject = wrpcResultsSubject(reply);
    let encoded: Uint8Array;
    try {
      const bytes =
        params === undefined
          ? msg.data
          : await deadline(params.done, options.timeoutMs, `parameters of ${msg.subject}`);
      const caller = {
        sourceId: msg.headers?.[WRPC_HEADER_SOURCE_ID] ?? '',
        linkName: msg.headers?.[WRPC_HEADER_LINK_NAME] ?? 'default',
      };
      if (options.verify !== undefined) {
        try {
          await options.verify(
            {
              lattice: options.lattice,
              targetId: options.id,
              instance: options.instance,
              fn: fnName,
              ...caller,
            },
            msg.headers,
            bytes,
          );
        } catch (err) {
          options.logger.warn('wRPC invocation refused', {
            subject: msg.subject,
            source: caller.sourceId,
            code: err instanceof CirrusError ? err.code : undefined,
            error: describeError(err),
          });
          conn.publish(subject, EMPTY);
          return;
        }
      }
      const args = early ?? decodeWrpcParams(handler.fn, bytes).values;
      const results = await handler.handle(args, caller);
      encoded = encodeWrpcResults(handler.fn, results).bytes;
    } catch (err) {
      // wRPC has no error channel: an empty result stream tells the caller at once, not at its deadline.
      conn.publish(subject, EMPTY);
      throw err;
    }
    for (const chunk of wrpcChunks(encoded, options.maxPayload)) conn.publish(subject, chunk);
    conn.publish(subject, EMPTY);
  } finally {
    params?.stop();
  }
}

/** The parameters, when the invocation payload holds all of them; undefined when more must follow. */
function completeParams(fn: WitFunction, payload: Uint8Array): unknown[] | undefined {
  try {
    const decoded = decodeWrpcParams(fn, payload);
    return decoded.deferred.length === 0 ? decoded.values : undefined;
  } catch (err) {
    if (isWrpcTruncated(err)) return undefined;
    throw err;
  }
}
