/**
 * Turning lattice replies into values or typed errors. A host says "no" with
 * `{"success":false,"message":…}`; the lattice says "nobody is there" with NO_RESPONDERS or
 * REQUEST_TIMEOUT. Both become errors whose hint says what to check, because the usual cause is a
 * client pointed at the wrong lattice rather than a broken host.
 */
import { decodeJson } from '@cirrus/lattice';
import type { Msg } from '@cirrus/lattice';
import {
  ControlRequestFailedError,
  isCirrusError,
  NoRespondersError,
  RequestTimeoutError,
} from '@cirrus/protocol';
import type { CtlResponse } from '@cirrus/protocol';

/** Who a request was meant for, so an unanswered request can say what to check. */
export interface Addressee {
  subject: string;
  lattice: string;
  /** The addressed host, for per-host subjects; undefined when any host may answer. */
  hostId: string | undefined;
  /** What the request was for, in a few words (`get inventory`, `put link`). */
  operation: string;
}

function isCtlResponse(value: unknown): value is CtlResponse<unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const reply = value as Record<string, unknown>;
  // `message` is always sent by wasmCloud hosts; tolerate its absence rather than fail a good reply.
  return (
    typeof reply.success === 'boolean' && (reply.message === undefined || typeof reply.message === 'string')
  );
}

/** Parses a reply envelope without judging `success` (scatter/gather skips bad replies instead). */
export function parseReply<T>(msg: Msg): CtlResponse<T> | undefined {
  if (msg.data.byteLength === 0) return undefined;
  let value: unknown;
  try {
    value = decodeJson(msg.data);
  } catch {
    return undefined;
  }
  if (!isCtlResponse(value)) return undefined;
  return { success: value.success, message: value.message ?? '', response: value.response as T };
}

/** Parses a reply and throws CONTROL_REQUEST_FAILED when the host refused or answered garbage. */
export function expectSuccess<T>(msg: Msg, to: Addressee): CtlResponse<T> {
  const reply = parseReply<T>(msg);
  if (reply === undefined) {
    throw new ControlRequestFailedError(`the reply to ${to.operation} is not a control response`, {
      hint: 'whatever answered on that subject does not speak the wasmCloud 1.x control interface',
      details: { subject: to.subject },
    });
  }
  if (!reply.success) {
    const message =
      reply.message === '' ? `the host refused ${to.operation} without a reason` : reply.message;
    throw new ControlRequestFailedError(message, { details: { subject: to.subject } });
  }
  return reply;
}

/** A success reply without the data the operation exists for. */
export function missingResponse(to: Addressee): ControlRequestFailedError {
  return new ControlRequestFailedError(`the reply to ${to.operation} carried no response`, {
    hint: 'the host acknowledged the request but sent no data; it may not implement this operation',
    details: { subject: to.subject },
  });
}

function whereToLook(to: Addressee): string {
  return to.hostId === undefined
    ? `is a host running on lattice "${to.lattice}"? check the lattice name (--lattice) and the NATS server`
    : `is host ${to.hostId} running on lattice "${to.lattice}"? list hosts with \`cirrus get hosts\` and check --lattice`;
}

/**
 * Rewrites the lattice's generic NO_RESPONDERS / REQUEST_TIMEOUT into ones that name the operation
 * and where to look; every other error passes through unchanged.
 */
export function explainUnanswered(err: unknown, to: Addressee, timeoutMs: number): unknown {
  if (!isCirrusError(err)) return err;
  const target = to.hostId === undefined ? `lattice "${to.lattice}"` : `host ${to.hostId}`;
  if (err.code === NoRespondersError.CODE) {
    return new NoRespondersError(`nobody answered ${to.operation} on ${target} (${to.subject})`, {
      hint: whereToLook(to),
      cause: err,
    });
  }
  if (err.code === RequestTimeoutError.CODE) {
    return new RequestTimeoutError(`no reply to ${to.operation} from ${target} within ${timeoutMs} ms`, {
      hint: `${whereToLook(to)}; a busy host may need a longer timeout (--timeout)`,
      cause: err,
    });
  }
  return err;
}
