/**
 * The host's side of the policy service (§5.6 of the 1.x protocol): before a component or provider
 * starts and before an invocation of a component is served, the service on the policy topic decides.
 * Decisions, permits and denials alike, are cached per (kind, id, ref[, interface, function]) as 1.x
 * does, and a decision published on the changes topic replaces the cached one it names by request id.
 * The host fails closed: no answer in time, nobody listening, or an answer that is not a decision
 * fails the operation, and such failures are not cached, so the next attempt asks again.
 */
import {
  assertPolicyTopic,
  CirrusError,
  describeError,
  parsePolicyResponse,
  POLICY_VERSION,
  PolicyDeniedError,
  policyClaims,
  PolicyReplyInvalidError,
  PolicyUnavailableError,
} from '@cirrus/protocol';
import type {
  Logger,
  PolicyClaimsSource,
  PolicyHostInfo,
  PolicyKind,
  PolicyRequest,
  PolicyResponse,
  StringMap,
} from '@cirrus/protocol';
import { encodeJson } from '@cirrus/lattice';
import type { LatticeConnection, Msg, Subscription } from '@cirrus/lattice';
import type { Clock } from './ports.ts';

/** The policy settings of a host (`--policy-topic`, `--policy-changes-topic`, `--policy-timeout-ms`). */
export interface PolicyOptions {
  /** The subject the policy service answers requests on. */
  topic: string;
  /** A subject on which the service publishes decisions that replace cached ones. */
  changesTopic?: string | undefined;
  /** Deadline of one request; default: the `policyTimeoutMs` limit (1000 ms). */
  timeoutMs?: number | undefined;
}

export interface PolicyClientOptions {
  connection: LatticeConnection;
  topic: string;
  changesTopic?: string | undefined;
  timeoutMs: number;
  /** Decisions kept; the least recently used one goes first. */
  maxCachedDecisions: number;
  /** The asking host as requests describe it, read at each request (labels change). */
  host: () => PolicyHostInfo;
  clock: Clock;
  logger: Logger;
}

/** A component as policy requests describe it. */
export interface ComponentPolicyTarget {
  componentId: string;
  imageRef: string;
  annotations: StringMap;
  /** The component's verified claims; undefined when it is unsigned. */
  claims: PolicyClaimsSource | undefined;
}

export interface ProviderPolicyTarget {
  providerId: string;
  imageRef: string;
  annotations: StringMap;
  claims: PolicyClaimsSource | undefined;
}

interface CachedDecision {
  key: string;
  /** The id the decision answered; a change naming it replaces the decision. */
  requestId: string;
  response: PolicyResponse;
}

type RequestBody = PolicyRequest['request'];

export class PolicyClient {
  readonly #options: PolicyClientOptions;
  readonly #decisions = new Map<string, CachedDecision>();
  readonly #keysByRequest = new Map<string, string>();
  /** Requests in flight per key: a burst of calls for one decision sends one request. */
  readonly #pending = new Map<string, Promise<PolicyResponse>>();
  #changes: Subscription | undefined;

  private constructor(options: PolicyClientOptions) {
    this.#options = options;
  }

  /** Validates the topics and subscribes to the changes topic (known to the server on return). */
  static async open(options: PolicyClientOptions): Promise<PolicyClient> {
    assertPolicyTopic('policy topic', options.topic);
    const client = new PolicyClient(options);
    if (options.changesTopic !== undefined) {
      assertPolicyTopic('policy changes topic', options.changesTopic);
      client.#changes = options.connection.subscribe(options.changesTopic, {
        callback: (msg: Msg) => client.#change(msg),
      });
      await options.connection.flush();
    }
    options.logger.info('policy service in use', {
      topic: options.topic,
      changes_topic: options.changesTopic,
      timeout_ms: options.timeoutMs,
    });
    return client;
  }

  /** Resolves when the service permits starting the component; rejects with a POLICY_* error otherwise. */
  evaluateStartComponent(target: ComponentPolicyTarget, maxInstances: number): Promise<void> {
    return this.#evaluate(
      'startComponent',
      ['startComponent', target.componentId, target.imageRef],
      () => ({
        componentId: target.componentId,
        imageRef: target.imageRef,
        maxInstances,
        annotations: target.annotations,
        claims: this.#claims(target.claims),
      }),
      `starting component ${target.componentId} (${target.imageRef})`,
    );
  }

  evaluateStartProvider(target: ProviderPolicyTarget): Promise<void> {
    return this.#evaluate(
      'startProvider',
      ['startProvider', target.providerId, target.imageRef],
      () => ({
        providerId: target.providerId,
        imageRef: target.imageRef,
        annotations: target.annotations,
        claims: this.#claims(target.claims),
      }),
      `starting provider ${target.providerId} (${target.imageRef})`,
    );
  }

  /** `instance` is the wRPC instance invoked, e.g. `example:greeter/greet@0.1.0`. */
  evaluatePerformInvocation(target: ComponentPolicyTarget, instance: string, fn: string): Promise<void> {
    return this.#evaluate(
      'performInvocation',
      ['performInvocation', target.componentId, target.imageRef, instance, fn],
      () => ({
        interface: instance,
        function: fn,
        target: {
          componentId: target.componentId,
          imageRef: target.imageRef,
          maxInstances: 0,
          annotations: target.annotations,
          claims: this.#claims(target.claims),
        },
      }),
      `invoking ${instance}.${fn} of ${target.componentId}`,
    );
  }

  /** Stops following the changes topic; cached decisions are dropped. */
  close(): void {
    this.#changes?.unsubscribe();
    this.#decisions.clear();
    this.#keysByRequest.clear();
  }

  #claims(claims: PolicyClaimsSource | undefined): ReturnType<typeof policyClaims> {
    return policyClaims(claims, Math.floor(this.#options.clock.now().getTime() / 1000));
  }

  async #evaluate(
    kind: PolicyKind,
    keyParts: string[],
    body: () => RequestBody,
    what: string,
  ): Promise<void> {
    const key = JSON.stringify(keyParts);
    const cached = this.#decisions.get(key);
    let response: PolicyResponse;
    if (cached !== undefined) {
      // Least recently used goes first: a hit moves the decision to the back.
      this.#decisions.delete(key);
      this.#decisions.set(key, cached);
      response = cached.response;
    } else {
      let pending = this.#pending.get(key);
      if (pending === undefined) {
        pending = this.#ask(kind, key, body(), what).finally(() => this.#pending.delete(key));
        this.#pending.set(key, pending);
      }
      response = await pending;
    }
    if (!response.permitted) {
      throw new PolicyDeniedError(
        `the policy service denied ${what}: ${response.message ?? '(no reason given)'}`,
        {
          hint: `the service on ${this.#options.topic} decides; change its policy to allow this`,
          details: { kind, requestId: response.requestId },
        },
      );
    }
  }

  async #ask(kind: PolicyKind, key: string, request: RequestBody, what: string): Promise<PolicyResponse> {
    const { connection, topic, timeoutMs, logger } = this.#options;
    const requestId = crypto.randomUUID();
    const payload = { requestId, kind, version: POLICY_VERSION, request, host: this.#options.host() };
    let reply: Msg;
    try {
      reply = await connection.request(topic, encodeJson(payload), { timeoutMs });
    } catch (err) {
      const reason = err instanceof CirrusError ? `${err.code}: ${err.message}` : describeError(err);
      throw new PolicyUnavailableError(`no policy decision on ${what}: ${reason}`, {
        hint: `start the policy service on ${topic} (the host fails closed without one), or raise --policy-timeout-ms`,
        cause: err,
        details: { kind, requestId },
      });
    }
    let response: PolicyResponse;
    try {
      response = parsePolicyResponse(reply.data, requestId);
    } catch (err) {
      const invalid = err as PolicyReplyInvalidError;
      throw new PolicyReplyInvalidError(
        `the policy service on ${topic} answered ${what} with a ${invalid.message}`,
        {
          hint: invalid.hint,
          details: { kind, requestId },
        },
      );
    }
    this.#remember({ key, requestId, response });
    if (response.permitted) logger.debug('policy permitted', { kind, request_id: requestId, what });
    else logger.warn('policy denied', { kind, request_id: requestId, what, reason: response.message });
    return response;
  }

  #remember(decision: CachedDecision): void {
    const previous = this.#decisions.get(decision.key);
    if (previous !== undefined) {
      this.#keysByRequest.delete(previous.requestId);
      this.#decisions.delete(decision.key);
    }
    this.#decisions.set(decision.key, decision);
    this.#keysByRequest.set(decision.requestId, decision.key);
    if (this.#decisions.size > this.#options.maxCachedDecisions) {
      const oldest = this.#decisions.values().next().value as CachedDecision;
      this.#decisions.delete(oldest.key);
      this.#keysByRequest.delete(oldest.requestId);
    }
  }

  /** A decision on the changes topic: it replaces the cached decision of the request it names. */
  #change(msg: Msg): void {
    const { logger } = this.#options;
    let response: PolicyResponse;
    try {
      response = parsePolicyResponse(msg.data);
    } catch (err) {
      logger.warn('ignoring a malformed policy change', { subject: msg.subject, error: describeError(err) });
      return;
    }
    const key = this.#keysByRequest.get(response.requestId);
    const cached = key === undefined ? undefined : this.#decisions.get(key);
    if (cached === undefined) {
      logger.debug('policy change for no cached decision', { request_id: response.requestId });
      return;
    }
    cached.response = response;
    logger.info('policy decision changed', {
      request_id: response.requestId,
      permitted: response.permitted,
      reason: response.message,
    });
  }
}
