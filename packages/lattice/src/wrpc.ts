/**
 * wRPC over the lattice (§4.3 of the 1.x protocol): the invoker publishes the parameters with a
 * fresh inbox `R` as reply-to, the server answers with a handshake from its own inbox `S`, the
 * invoker ends the parameter stream on `S.params`, and the server writes the results to `R.results`,
 * closing the stream with an empty message. Values are encoded by the protocol package from the WIT
 * signature. A call whose signature holds streams or futures carries their contents on nested
 * subjects (wrpc-streams.ts); one without them takes the path below that does nothing else.
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
  parseWrpcWindow,
  RequestTimeoutError,
  witHasAsync,
  WrpcCallFailedError,
  wrpcChunks,
  wrpcFirstMessageBudget,
  wrpcInvocationHeaders,
  wrpcInvocationSubject,
  wrpcParamsSubject,
  wrpcQueueGroup,
  wrpcResultsSubject,
  WrpcStreamCancelledError,
  WRPC_HEADER_LINK_NAME,
  WRPC_HEADER_SOURCE_ID,
  WRPC_HEADER_WINDOW,
} from '@cirrus/protocol';
import type { InvocationFields, Logger, WitFunction, WitType } from '@cirrus/protocol';
import { EMPTY } from './codec.ts';
import { afterDelay, everyDelay } from './delay-queue.ts';
import type { LatticeConnection, Msg, MsgHeaders, Subscription } from './port.ts';
import { WrpcSession, wrpcStreamLimits } from './wrpc-streams.ts';
import type { WrpcStreamLimits } from './wrpc-streams.ts';
import { inSpan, SpanKind, traceContextOf, withTraceHeaders } from './tracing.ts';
import type { Attributes } from './tracing.ts';

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
  /**
   * Abandons the call: before its results it fails with the signal's reason; after them its streams
   * and futures end, the server is told, and what this side still sends stops.
   */
  signal?: AbortSignal | undefined;
  /** The limits of the call's streams and futures (a host passes its limits); defaults otherwise. */
  streamLimits?: Partial<WrpcStreamLimits> | undefined;
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

async function deadline<T>(work: Promise<T>, ms: number, what: string, signal?: AbortSignal): Promise<T> {
  let cancel: (() => void) | undefined;
  let onAbort: (() => void) | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        cancel = afterDelay(ms, () =>
          reject(
            new RequestTimeoutError(`${what} did not complete within ${ms} ms`, {
              hint: 'is the target running on a host of this lattice?',
            }),
          ),
        );
        if (signal !== undefined) {
          onAbort = () => reject(abortReason(signal, what));
          if (signal.aborted) onAbort();
          else signal.addEventListener('abort', onAbort, { once: true });
        }
      }),
    ]);
  } finally {
    cancel?.();
    if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort);
  }
}

function abortReason(signal: AbortSignal, what: string): Error {
  return signal.reason instanceof Error
    ? signal.reason
    : new WrpcStreamCancelledError(`${what} was abandoned by its caller`);
}

/**
 * The invocation payload and what follows on `S.params`: everything when it fits (checked first
 * with an upper bound, UTF-8 taking at most three bytes per UTF-16 unit), else what the budget of
 * wrpc-transport-nats allows.
 */
function splitParams(
  params: Uint8Array,
  maxPayload: number,
  reply: string,
  headers: Readonly<Record<string, string>>,
): [Uint8Array, Uint8Array] {
  let overhead = 3 * reply.length + 12;
  for (const name in headers) overhead += 3 * (name.length + (headers[name] as string).length) + 4;
  if (params.length + overhead <= maxPayload) return [params, EMPTY];
  const budget = wrpcFirstMessageBudget({ maxPayload, replySubject: reply, headers });
  return [params.subarray(0, budget), params.subarray(budget)];
}

/** The parameter bytes that did not fit the invocation, then the empty message that ends them. */
function sendRestOfParams(conn: LatticeConnection, serverInbox: string, rest: Uint8Array): void {
  const subject = wrpcParamsSubject(serverInbox);
  for (const chunk of wrpcChunks(rest, conn.maxPayload)) conn.publish(subject, chunk);
  conn.publish(subject, EMPTY);
}

/**
 * One wildcard subscription per connection carries the handshake and results of every invocation
 * made on it, as wRPC's own clients do, and the parameters and credit of every call it serves,
 * instead of subscriptions made and dropped per call.
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

const paramTypesOf = new WeakMap<WitFunction, readonly WitType[]>();

/** The types of a function's parameters, one array per function (what the session is keyed by). */
function paramTypes(fn: WitFunction): readonly WitType[] {
  let found = paramTypesOf.get(fn);
  if (found === undefined) {
    found = fn.params.map((p) => p.type);
    paramTypesOf.set(fn, found);
  }
  return found;
}

const asyncFunctions = new WeakMap<WitFunction, boolean>();

/** Whether a call of `fn` may carry streams or futures (then it takes the streaming path). */
function carriesAsync(fn: WitFunction): boolean {
  let found = asyncFunctions.get(fn);
  if (found === undefined) {
    found = fn.params.some((p) => witHasAsync(p.type)) || fn.results.some(witHasAsync);
    asyncFunctions.set(fn, found);
  }
  return found;
}

/**
 * Invokes a function on the lattice and returns its decoded results. Streams among them are async
 * iterables of chunks (`Uint8Array` for `stream<u8>`) and futures promises; they keep arriving after
 * this returns. Streams and futures among the arguments may be given as async iterables and promises.
 */
export function wrpcInvoke(conn: LatticeConnection, call: WrpcInvocation): Promise<unknown[]> {
  const subject = wrpcInvocationSubject(call.lattice, call.targetId, call.instance, call.fn.name);
  return inSpan(
    `${call.instance}/${call.fn.name}`,
    { kind: SpanKind.CLIENT, attributes: rpcAttributes(call.instance, call.fn.name, call.targetId, subject) },
    () => invoke(conn, call, subject),
  );
}

/** The span attributes of a wRPC call (OpenTelemetry's RPC and messaging conventions). */
function rpcAttributes(instance: string, fn: string, targetId: string, subject: string): Attributes {
  return {
    'rpc.system': 'wrpc',
    'rpc.service': instance,
    'rpc.method': fn,
    'messaging.system': 'nats',
    'messaging.destination.name': subject,
    'cirrus.target_id': targetId,
  };
}

async function invoke(conn: LatticeConnection, call: WrpcInvocation, subject: string): Promise<unknown[]> {
  const encoded = encodeWrpcParams(call.fn, call.args);
  const params = encoded.bytes;
  const limits = carriesAsync(call.fn) ? wrpcStreamLimits(call.streamLimits) : undefined;
  const results = createWrpcByteStream({ maxBytes: call.maxBytes });
  let session: WrpcSession | undefined;
  let rest: Uint8Array = EMPTY;
  let handshaken = false;
  let opened: { inbox: string; close: () => void } | undefined;
  let failed!: (err: Error) => void;
  const received = new Promise<Uint8Array>((resolve, reject) => {
    failed = reject;
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
        if (handshaken) return;
        handshaken = true;
        sendRestOfParams(conn, msg.reply, rest);
        if (session !== undefined) {
          session.connect(
            msg.reply,
            wrpcParamsSubject(msg.reply),
            parseWrpcWindow(msg.headers?.[WRPC_HEADER_WINDOW]),
          );
          for (const deferred of encoded.deferred) session.send(deferred);
        }
        return;
      }
      if (msg.subject === `${inbox}.gone`) {
        reject(
          new WrpcCallFailedError(`${call.targetId} left the lattice before it answered ${subject}`, {
            hint: `the host or provider serving ${call.targetId} stopped or lost its connection mid-call`,
          }),
        );
        return;
      }
      try {
        if (msg.subject === resultsSubject) {
          if (results.push(msg.data)) resolve(results.bytes());
        } else {
          session?.route(msg);
        }
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  });
  const { inbox, close } = opened as { inbox: string; close: () => void };
  const resultsSubject = wrpcResultsSubject(inbox);
  if (limits !== undefined) {
    session = new WrpcSession({
      conn,
      own: inbox,
      inboundBase: resultsSubject,
      inboundTypes: call.fn.results,
      limits,
      maxBytes: call.maxBytes,
    });
  }
  let handedOver = false;
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
    const headers: Record<string, string> = withTraceHeaders({
      ...wrpcInvocationHeaders({
        sourceId: call.sourceId,
        linkName: call.linkName,
        ...(call.sendTargetId === true ? { targetId: call.targetId } : {}),
      }),
      ...signature,
    });
    if (limits !== undefined) headers[WRPC_HEADER_WINDOW] = String(limits.wrpcStreamWindowBytes);
    const [first, more] = splitParams(params, conn.maxPayload, inbox, headers);
    rest = more;
    // A server that dies before it answers sends nothing more; between Cirrus peers it is probed, so
    // the call fails within a probe interval rather than at its deadline.
    const stopProbing =
      session === undefined || limits === undefined
        ? undefined
        : everyDelay(limits.wrpcStreamProbeIntervalMs, () => session?.probePeer());
    const answered = deadline(received, call.timeoutMs, `wRPC call ${subject}`, call.signal).finally(() =>
      stopProbing?.(),
    );
    // Armed first: the invocation leaves when this turn's work is done, which is nothing but waiting.
    // No flush: a server handles one connection's SUBs and PUBs in order, so the inbox is in place
    // before anything can answer the invocation.
    try {
      conn.publish(subject, first, { reply: inbox, headers });
    } catch (err) {
      failed(err instanceof Error ? err : new Error(String(err)));
    }
    const bytes = await answered;
    if (bytes.byteLength === 0 && call.fn.results.length > 0) {
      throw new WrpcCallFailedError(`${call.targetId} failed to serve ${call.instance}.${call.fn.name}`, {
        hint: `the log of the host or provider running ${call.targetId} has the cause`,
      });
    }
    if (session === undefined) return decodeWrpcResults(call.fn, bytes).values;
    const values = decodeWrpcResults(call.fn, bytes, {
      revive: session.revive,
      maxValueBytes: call.maxBytes,
    }).values;
    handOver(session, close, call.signal, subject);
    handedOver = true;
    return values;
  } catch (err) {
    session?.abort(err instanceof Error ? err : new Error(String(err)), true);
    throw err;
  } finally {
    if (!handedOver) {
      if (session === undefined) close();
      else session.seal(close);
    }
  }
}

/** The call's inbox stays open until its streams and futures have ended, or the caller abandons it. */
function handOver(
  session: WrpcSession,
  close: () => void,
  signal: AbortSignal | undefined,
  what: string,
): void {
  if (signal === undefined) {
    session.seal(close);
    return;
  }
  const onAbort = (): void => session.abort(abortReason(signal, `wRPC call ${what}`), true);
  if (signal.aborted) {
    onAbort();
    session.seal(close);
    return;
  }
  signal.addEventListener('abort', onAbort, { once: true });
  session.seal(() => {
    signal.removeEventListener('abort', onAbort);
    close();
  });
}

/** Who made a call, and, for one carrying streams or futures, when it is abandoned. */
export interface WrpcCaller {
  sourceId: string;
  linkName: string;
  /**
   * Present when the signature has streams or futures: aborted when the invoker abandons the call,
   * stops reading a result stream, or a result cannot be delivered.
   */
  signal?: AbortSignal;
  /**
   * The invoker is a Cirrus peer (it offered a flow-control window). Such a peer reads complete
   * streams and futures inline; a 1.x peer is sent only pending ones, as 1.x itself sends them.
   */
  cirrusPeer?: boolean;
}

export interface WrpcHandler {
  fn: WitFunction;
  /**
   * Streams among `args` are async iterables of chunks, futures promises; the results may give
   * streams and futures the same way (or complete, as arrays and `{ tag: 'ready', val }`).
   */
  handle(args: unknown[], caller: WrpcCaller): Promise<unknown[]>;
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
   * rejection refuses it: logged, and the result stream closed empty. Contents of streams and futures
   * that follow on their own subjects are not part of those bytes.
   */
  verify?: (
    fields: InvocationFields,
    headers: MsgHeaders | undefined,
    params: Uint8Array,
  ) => Promise<unknown>;
  /** The limits of served calls' streams and futures (a host passes its limits); defaults otherwise. */
  streamLimits?: Partial<WrpcStreamLimits> | undefined;
  /**
   * Wraps the handling of each invocation (of `fn` of the served instance): a host counts and traces
   * the calls its built-in providers serve with it.
   */
  observe?: ServeObserver | undefined;
}

export type ServeObserver = (
  instance: string,
  fn: string,
  handle: () => Promise<unknown[]>,
) => Promise<unknown[]>;

/** Runs a handler, through the observer when there is one. */
function handled(
  options: WrpcServeOptions,
  fn: string,
  handle: () => Promise<unknown[]>,
): Promise<unknown[]> {
  return options.observe === undefined ? handle() : options.observe(options.instance, fn, handle);
}

/**
 * Serves functions of one instance for `id` in its queue group; returns the subscription. Its
 * unsubscribe still serves the invocations NATS already routed to it, so that none is left
 * unanswered when a host replaces a component (it serves the new version, then unsubscribes the
 * old) or stops one that other hosts go on serving.
 */
export function wrpcServe(conn: LatticeConnection, options: WrpcServeOptions): Subscription {
  // Every function of the instance: the function name is the last token.
  const subject = `${wrpcInvocationSubject(options.lattice, options.id, options.instance, 'x').slice(0, -1)}*`;
  return conn.subscribe(subject, {
    queue: wrpcQueueGroup(options.lattice, options.id),
    drainOnUnsubscribe: true,
    callback: (msg) => {
      const fn = msg.subject.slice(msg.subject.lastIndexOf('.') + 1);
      void inSpan(
        `${options.instance}/${fn}`,
        {
          kind: SpanKind.SERVER,
          attributes: rpcAttributes(options.instance, fn, options.id, msg.subject),
          parent: traceContextOf(msg.headers),
        },
        () => serveOne(conn, options, msg),
      ).catch((err: unknown) =>
        options.logger.warn('wRPC invocation failed', { subject: msg.subject, error: describeError(err) }),
      );
    },
  });
}

function callerOf(msg: Msg): WrpcCaller {
  return {
    sourceId: msg.headers?.[WRPC_HEADER_SOURCE_ID] ?? '',
    linkName: msg.headers?.[WRPC_HEADER_LINK_NAME] ?? 'default',
  };
}

/** Runs the `verify` hook; false (logged) when it refuses the invocation. */
async function verified(
  options: WrpcServeOptions,
  msg: Msg,
  fn: string,
  caller: WrpcCaller,
  bytes: Uint8Array,
): Promise<boolean> {
  if (options.verify === undefined) return true;
  try {
    await options.verify(
      {
        lattice: options.lattice,
        targetId: options.id,
        instance: options.instance,
        fn,
        sourceId: caller.sourceId,
        linkName: caller.linkName,
      },
      msg.headers,
      bytes,
    );
    return true;
  } catch (err) {
    options.logger.warn('wRPC invocation refused', {
      subject: msg.subject,
      source: caller.sourceId,
      code: err instanceof CirrusError ? err.code : undefined,
      error: describeError(err),
    });
    return false;
  }
}

async function serveOne(conn: LatticeConnection, options: WrpcServeOptions, msg: Msg): Promise<void> {
  const reply = msg.reply;
  if (reply === undefined) return;
  const fnName = msg.subject.slice(msg.subject.lastIndexOf('.') + 1);
  const handler = options.handlers.get(fnName);
  if (handler === undefined) return;
  if (carriesAsync(handler.fn)) {
    await serveStreaming(conn, options, msg, reply, fnName, handler);
    return;
  }
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
      const caller = callerOf(msg);
      if (!(await verified(options, msg, fnName, caller, bytes))) {
        conn.publish(subject, EMPTY);
        return;
      }
      const args = early ?? decodeWrpcParams(handler.fn, bytes).values;
      const results = await handled(options, fnName, () => handler.handle(args, caller));
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

/**
 * A call whose signature holds streams or futures: one subscription on the server inbox `S.>` takes
 * the rest of the parameters, their pending values, and the invoker's credit for the results'.
 */
async function serveStreaming(
  conn: LatticeConnection,
  options: WrpcServeOptions,
  msg: Msg,
  reply: string,
  fnName: string,
  handler: WrpcHandler,
): Promise<void> {
  // The inbox is routed by the connection's one wildcard subscription (no SUB and UNSUB per call).
  let route: (m: Msg) => void = () => undefined;
  const { inbox, close } = inboxesOf(conn).open((m) => route(m));
  const paramsSubject = wrpcParamsSubject(inbox);
  const resultsSubject = wrpcResultsSubject(reply);
  const limits = wrpcStreamLimits(options.streamLimits);
  const peerWindow = parseWrpcWindow(msg.headers?.[WRPC_HEADER_WINDOW]);
  let handshaken = false;
  // Only an invoker that offered a window learns this side's: a 1.x invoker never sends credit.
  const handshake = (): void => {
    if (handshaken) return;
    handshaken = true;
    cancelHold?.();
    session.announce();
    conn.publish(
      reply,
      EMPTY,
      peerWindow === undefined
        ? { reply: inbox }
        : { reply: inbox, headers: { [WRPC_HEADER_WINDOW]: String(limits.wrpcStreamWindowBytes) } },
    );
  };
  let cancelHold: (() => void) | undefined;
  const mayHold = peerWindow !== undefined && limits.wrpcHandshakeDelayMs > 0;
  const session = new WrpcSession({
    conn,
    own: inbox,
    inboundBase: paramsSubject,
    inboundTypes: paramTypes(handler.fn),
    limits,
    maxBytes: options.maxBytes,
    onSendError: (err, subject) =>
      options.logger.warn('wRPC result stream failed', { subject, error: describeError(err) }),
    onDemand: handshake,
    heldBack: mayHold,
  });
  session.connect(reply, resultsSubject, peerWindow);
  const root = rootParams(handler.fn, msg.data, options.maxBytes, session.revive);
  route = (m) => (m.subject === paramsSubject ? root.push(m.data) : session.route(m));
  let resultsSent = false;
  try {
    // The handshake tells the invoker where to send the rest of the parameters, its pending values and
    // its credit. A Cirrus invoker whose parameters all came in the invocation is told only if this
    // side reads one of them, sends pending results, or takes longer than wrpcHandshakeDelayMs (from
    // then on it can probe this side): a quick answer is the invocation and its results alone.
    if (!mayHold || root.ready === undefined) handshake();
    else cancelHold = afterDelay(limits.wrpcHandshakeDelayMs, handshake);
    const { bytes, values } =
      root.ready ?? (await deadline(root.done, options.timeoutMs, `parameters of ${msg.subject}`));
    const caller = callerOf(msg);
    if (options.verify !== undefined && !(await verified(options, msg, fnName, caller, bytes))) {
      session.abort(new WrpcCallFailedError(`${msg.subject}: the invocation was refused`), true);
      return;
    }
    const results = await handled(options, fnName, () =>
      handler.handle(values, { ...caller, signal: session.signal, cirrusPeer: peerWindow !== undefined }),
    );
    const encoded = encodeWrpcResults(handler.fn, results);
    if (encoded.deferred.length > 0) handshake();
    cancelHold?.();
    resultsSent = true;
    for (const chunk of wrpcChunks(encoded.bytes, options.maxPayload)) conn.publish(resultsSubject, chunk);
    conn.publish(resultsSubject, EMPTY);
    for (const deferred of encoded.deferred) session.send(deferred);
  } catch (err) {
    session.abort(err instanceof Error ? err : new Error(String(err)), true);
    throw err;
  } finally {
    cancelHold?.();
    // wRPC has no error channel: an empty result stream tells the caller at once, not at its deadline.
    if (!resultsSent) conn.publish(resultsSubject, EMPTY);
    // Values the invoker was never told where to send are not waited for, nor cancelled. After
    // results, the bookkeeping waits until they have left (the connection writes in a microtask).
    const seal = (): void => session.seal(close, handshaken ? true : 'quietly');
    if (resultsSent) queueMicrotask(seal);
    else seal();
  }
}

/**
 * The root parameters of a call with streams: the first message's payload, then what follows on
 * `S.params`, decoded with `revive` (which hands out the same live value for a path however often it
 * is asked, so a decode that runs out of bytes and is tried again later creates nothing twice).
 * `ready` is set when the first message held them all, as it usually does.
 */
function rootParams(
  fn: WitFunction,
  first: Uint8Array,
  maxBytes: number,
  revive: NonNullable<Parameters<typeof decodeWrpcParams>[2]>['revive'],
): { ready?: RootParams; done: Promise<RootParams>; push: (data: Uint8Array) => void } {
  let settle: { resolve: (params: RootParams) => void; reject: (err: Error) => void } | undefined;
  const done = new Promise<RootParams>((resolve, reject) => (settle = { resolve, reject }));
  let ready: RootParams | undefined;
  const complete = (bytes: Uint8Array, final: boolean): void => {
    try {
      ready = { bytes, values: decodeWrpcParams(fn, bytes, { revive, maxValueBytes: maxBytes }).values };
      settle?.resolve(ready);
      settle = undefined;
    } catch (err) {
      if (final || !isWrpcTruncated(err)) {
        settle?.reject(err instanceof Error ? err : new Error(String(err)));
        settle = undefined;
      }
    }
  };
  complete(first, false);
  if (settle === undefined) return { ...(ready === undefined ? {} : { ready }), done, push: () => {} };
  const stream = createWrpcByteStream({ maxBytes, initial: first });
  return {
    done,
    push: (data) => {
      if (settle === undefined) return;
      try {
        if (stream.push(data)) complete(stream.bytes(), true);
      } catch (err) {
        settle.reject(err instanceof Error ? err : new Error(String(err)));
        settle = undefined;
      }
    },
  };
}

interface RootParams {
  bytes: Uint8Array;
  values: unknown[];
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
