/**
 * The wasmCloud 1.x policy service protocol (§5.6). A host configured with a policy topic asks the
 * service on it before starting a component or provider and before serving an invocation of a
 * component; the service answers `{requestId, permitted, message?}`. Decisions arrive later too, on
 * the policy-changes topic, in the same shape. Field names and values are 1.x's, so a policy service
 * written for wasmCloud serves Cirrus hosts as well.
 */
import { InvalidSubjectError, PolicyReplyInvalidError } from './errors.ts';
import { isValidToken } from './subjects.ts';
import type { StringMap } from './wire.ts';

export const POLICY_VERSION = 'v1';

export type PolicyKind = 'startComponent' | 'startProvider' | 'performInvocation';

/** The claims embedded in a component (or carried by a provider), as 1.x sends them. */
export interface PolicyClaims {
  /** The subject: the component's (`M…`) or provider's (`V…`) public key. */
  publicKey: string;
  /** The account (`A…`) that signed the claims. */
  issuer: string;
  /** `iat`, in seconds since the epoch, as a decimal string. */
  issuedAt: string;
  /** `exp`, in seconds since the epoch, or null when the claims do not expire. */
  expiresAt: number | null;
  /** Whether `exp` has passed: policy services without a clock (components) need not compute it. */
  expired: boolean;
}

export interface PolicyComponentInfo {
  componentId: string;
  imageRef: string;
  /** The requested instance count; always 0 in the target of an invocation (as in 1.x). */
  maxInstances: number;
  annotations: StringMap;
  /** Null for an unsigned component. */
  claims: PolicyClaims | null;
}

export interface PolicyProviderInfo {
  providerId: string;
  imageRef: string;
  annotations: StringMap;
  claims: PolicyClaims | null;
}

export interface PolicyInvocationInfo {
  /** The wRPC instance, e.g. `example:greeter/greet@0.1.0` or `wrpc:http/incoming-handler@0.1.0`. */
  interface: string;
  function: string;
  target: PolicyComponentInfo;
}

/** The host that asks: the one about to start the workload or serve the invocation. */
export interface PolicyHostInfo {
  publicKey: string;
  lattice: string;
  labels: StringMap;
}

interface PolicyRequestOf<K extends PolicyKind, R> {
  requestId: string;
  kind: K;
  version: typeof POLICY_VERSION;
  request: R;
  host: PolicyHostInfo;
}

export type PolicyRequest =
  | PolicyRequestOf<'startComponent', PolicyComponentInfo>
  | PolicyRequestOf<'startProvider', PolicyProviderInfo>
  | PolicyRequestOf<'performInvocation', PolicyInvocationInfo>;

export interface PolicyResponse {
  requestId: string;
  permitted: boolean;
  /** Why, usually given with a denial; suitable for logs. */
  message?: string;
}

/** The fields of signed claims the policy service sees (JWT names: `sub`, `iss`, `iat`, `exp`). */
export interface PolicyClaimsSource {
  readonly sub: string;
  readonly iss: string;
  readonly iat: number;
  readonly exp?: number | undefined;
}

/** Claims as a policy request carries them; null for an unsigned artifact. */
export function policyClaims(
  claims: PolicyClaimsSource | undefined,
  nowSeconds: number,
): PolicyClaims | null {
  if (claims === undefined) return null;
  const expiresAt = claims.exp ?? null;
  return {
    publicKey: claims.sub,
    issuer: claims.iss,
    issuedAt: String(claims.iat),
    expiresAt,
    expired: expiresAt !== null && nowSeconds > expiresAt,
  };
}

/**
 * Checks a policy or policy-changes subject: dot-separated tokens, no wildcards (the host publishes
 * requests to the one and treats every message on the other as a decision).
 */
export function assertPolicyTopic(what: string, topic: unknown): string {
  if (typeof topic !== 'string' || !topic.split('.').every(isValidToken)) {
    throw new InvalidSubjectError(`${what} ${JSON.stringify(topic)} is not a valid subject`, {
      hint: 'use dot-separated tokens without wildcards or whitespace, e.g. "wasmcloud.policy"',
    });
  }
  return topic;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

const REPLY_SHAPE =
  '{"requestId": "<the request\'s id>", "permitted": true|false, "message": "optional reason"}';

function malformed(reason: string): PolicyReplyInvalidError {
  return new PolicyReplyInvalidError(`malformed policy decision: ${reason}`, {
    hint: `the policy service must answer ${REPLY_SHAPE}`,
  });
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  return Array.isArray(value) ? 'array' : typeof value;
}

/**
 * Parses a policy decision (a reply, or a message on the changes topic): a JSON object with a
 * non-empty string `requestId`, a boolean `permitted` and an optional string `message` (null counts
 * as absent). Other fields are ignored, as 1.x does. With `requestId` given, the decision must be for
 * that request. Anything else throws POLICY_REPLY_INVALID.
 */
export function parsePolicyResponse(data: Uint8Array | string, requestId?: string): PolicyResponse {
  let text: string;
  try {
    text = typeof data === 'string' ? data : utf8.decode(data);
  } catch {
    throw malformed('not valid UTF-8');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw malformed(text.trim() === '' ? 'the body is empty' : 'not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw malformed(`expected a JSON object, got ${typeName(value)}`);
  }
  const obj = value as Record<string, unknown>;
  if (typeof obj['requestId'] !== 'string' || obj['requestId'] === '') {
    throw malformed(`requestId must be a non-empty string, got ${typeName(obj['requestId'])}`);
  }
  if (typeof obj['permitted'] !== 'boolean') {
    throw malformed(`permitted must be a boolean, got ${typeName(obj['permitted'])}`);
  }
  const message = obj['message'];
  if (message !== undefined && message !== null && typeof message !== 'string') {
    throw malformed(`message must be a string, got ${typeName(message)}`);
  }
  if (requestId !== undefined && obj['requestId'] !== requestId) {
    throw malformed(
      `it answers request ${JSON.stringify(obj['requestId'])}, not ${JSON.stringify(requestId)}`,
    );
  }
  const response: PolicyResponse = { requestId: obj['requestId'], permitted: obj['permitted'] };
  if (typeof message === 'string') response.message = message;
  return response;
}
