/**
 * nats.js reports failures as its own error classes, often wrapped (a RequestError whose cause is a
 * NoRespondersError). The lattice promises Cirrus codes, so every nats.js error is translated here,
 * once, by walking the cause chain.
 */
import type { CirrusError } from '@cirrus/protocol';
import {
  KvUnavailableError,
  LatticeAuthFailedError,
  LatticeClosedError,
  LatticePermissionDeniedError,
  NoRespondersError,
  RequestTimeoutError,
} from '@cirrus/protocol';
import { errors } from '@nats-io/nats-core';

/** The error and its causes, outermost first (bounded: a cycle must not hang us). */
export function causeChain(err: unknown): unknown[] {
  const chain: unknown[] = [];
  let current: unknown = err;
  while (current !== undefined && current !== null && chain.length < 8 && !chain.includes(current)) {
    chain.push(current);
    current = current instanceof Error ? current.cause : undefined;
  }
  return chain;
}

function has(err: unknown, kind: abstract new (...args: never[]) => Error): boolean {
  return causeChain(err).some((e) => e instanceof kind);
}

/** The distinct messages of the chain, e.g. `connection refused: connect ECONNREFUSED 127.0.0.1:4222`. */
export function reasonOf(err: unknown): string {
  const parts: string[] = [];
  for (const e of causeChain(err)) {
    const text = e instanceof Error ? e.message : String(e);
    if (text !== '' && !parts.some((p) => p.includes(text))) parts.push(text);
  }
  return parts.join(': ') || 'unknown error';
}

export function isTimeout(err: unknown): boolean {
  return has(err, errors.TimeoutError) || /timeout|timed out/i.test(reasonOf(err));
}

/** The server closed the connection under the client (typically while it was sending CONNECT). */
export function isCutOff(err: unknown): boolean {
  return causeChain(err).some((e) => {
    const code = (e as { code?: unknown } | undefined)?.code;
    return code === 'EPIPE' || code === 'ECONNRESET';
  });
}

export function isNoResponders(err: unknown): boolean {
  return has(err, errors.NoRespondersError);
}

export function isClosed(err: unknown): boolean {
  return has(err, errors.ClosedConnectionError) || has(err, errors.DrainingConnectionError);
}

const AUTH_TIMEOUT = /authentication timeout/i;

/** nats.js files the server's `Authentication Timeout` as an AuthorizationError, yet no credential was refused. */
function isAuthTimeout(e: unknown): boolean {
  return e instanceof errors.AuthorizationError && AUTH_TIMEOUT.test(e.message);
}

export function isAuthFailure(err: unknown): boolean {
  if (causeChain(err).some(isAuthTimeout)) return false;
  return has(err, errors.AuthorizationError) || has(err, errors.UserAuthenticationExpiredError);
}

export function isPermissionViolation(err: unknown): boolean {
  return has(err, errors.PermissionViolationError);
}

/** A failed request/reply, in the same codes and words as the in-memory lattice. */
export function requestError(err: unknown, subject: string, timeoutMs: number): CirrusError {
  if (isNoResponders(err)) {
    return new NoRespondersError(`no responders for ${subject}`, {
      hint: 'nothing is subscribed to that subject; check the host, lattice name and subject',
    });
  }
  if (isClosed(err)) {
    return new LatticeClosedError(`connection closed while waiting for ${subject}`, { cause: err });
  }
  if (isPermissionViolation(err)) return permissionError(err);
  if (isTimeout(err)) {
    return new RequestTimeoutError(`request to ${subject} timed out after ${timeoutMs} ms`, {
      hint: 'the responder is slow or gone; retry or raise the timeout',
    });
  }
  // A request cancelled by a disconnect never got an answer: to the caller that is a timeout.
  return new RequestTimeoutError(`request to ${subject} got no reply: ${reasonOf(err)}`, {
    hint: 'the NATS connection was interrupted; retry once it is back',
    cause: err,
  });
}

export function permissionError(err: unknown): LatticePermissionDeniedError {
  return new LatticePermissionDeniedError(`the NATS server refused the operation: ${reasonOf(err)}`, {
    hint: "grant the NATS user publish/subscribe permission for the subject in the server's authorization",
    cause: err,
  });
}

/** A refusal of the connection's credentials, naming them (never their secret) and what to check. */
export function authError(
  err: unknown,
  servers: string,
  credentials: { readonly description: string; readonly hint: string },
  prefix = '',
): LatticeAuthFailedError {
  const expired = has(err, errors.UserAuthenticationExpiredError) ? ' (the user JWT has expired)' : '';
  return new LatticeAuthFailedError(
    `${prefix}the NATS server at ${servers} refused ${credentials.description}${expired}: ${reasonOf(err)}`,
    { hint: credentials.hint, cause: err },
  );
}

/** A key-value operation the server could not carry out. */
export function kvError(
  err: unknown,
  operation: string,
  { timeoutMs, jsDomain }: { readonly timeoutMs: number; readonly jsDomain: string | undefined },
): CirrusError {
  if (isClosed(err)) {
    return new LatticeClosedError(`connection closed during key-value ${operation}`, { cause: err });
  }
  if (isPermissionViolation(err)) return permissionError(err);
  if (isNoResponders(err) && jsDomain !== undefined) {
    // Through a leaf node, this is also what a client sees while the link to the hub is down.
    return new KvUnavailableError(
      `key-value ${operation} failed: no JetStream answers in domain ${JSON.stringify(jsDomain)}`,
      {
        hint: "check the domain against the hub's jetstream { domain }, and that this server reaches the hub (a leaf node server: its leaf node connection is up); retry once it is back",
        cause: err,
      },
    );
  }
  if (isNoResponders(err) || /jetstream not enabled/i.test(reasonOf(err))) {
    return new KvUnavailableError(`key-value ${operation} failed: JetStream does not answer`, {
      hint: "enable JetStream on the NATS server (nats-server -js, or a jetstream {} block), or on a leaf node server without JetStream name the hub's JetStream domain (cirrus up --js-domain); right after a server restart, retry",
      cause: err,
    });
  }
  if (isTimeout(err)) {
    return new KvUnavailableError(`key-value ${operation} timed out after ${timeoutMs} ms`, {
      hint: 'the NATS server is unreachable or overloaded; retry, or raise natsKvTimeoutMs',
      cause: err,
    });
  }
  return new KvUnavailableError(`key-value ${operation} failed: ${reasonOf(err)}`, { cause: err });
}

/** The server's own words when it refused the client with `-ERR` for a reason other than credentials. */
export function serverRefusal(err: unknown): string | undefined {
  const refusal = causeChain(err).find((e) => e instanceof errors.ProtocolError || isAuthTimeout(e));
  return refusal instanceof Error ? refusal.message : undefined;
}
