/**
 * A policy service that permits what a trusted account signed. Hosts started with
 * `--policy-topic <topic>` send it a request before they start a component or a provider and before
 * they serve an invocation of a component; it answers `{requestId, permitted, message}`. Here the
 * rule is one line: the artifact's claims must be issued by an account in the allow-list (and not
 * be expired). Unsigned artifacts, built-in providers among them, are denied unless allowed.
 *
 * Several copies may run: they share the requests through a queue group. The protocol is wasmCloud
 * 1.x's, so the same service answers wasmCloud hosts.
 */
import { connect } from '@nats-io/transport-node';
import type { Msg, NatsConnection } from '@nats-io/transport-node';
import type { PolicyClaims, PolicyRequest, PolicyResponse } from '@cirrus/protocol';

export interface PolicyServiceOptions {
  /** NATS server(s) of the lattice, e.g. `nats://127.0.0.1:4222`. */
  servers: string | string[];
  /** The subject hosts send requests to: their `--policy-topic`. */
  topic: string;
  /** Account public keys (`A…`) whose signed components and providers are permitted. */
  allowedIssuers: readonly string[];
  /** Permit artifacts without claims too. */
  allowUnsigned?: boolean;
  /** One line per decision (default: none). */
  log?: (line: string) => void;
}

export interface PolicyService {
  stop(): Promise<void>;
}

/** The decision for one request. Anything this service does not understand is denied. */
export function decide(request: PolicyRequest, options: PolicyServiceOptions): PolicyResponse {
  const deny = (message: string): PolicyResponse => ({
    requestId: request.requestId,
    permitted: false,
    message,
  });
  let claims: PolicyClaims | null;
  switch (request.kind) {
    case 'startComponent':
    case 'startProvider':
      claims = request.request.claims;
      break;
    case 'performInvocation':
      claims = request.request.target.claims;
      break;
    default:
      return deny(`unknown request kind ${JSON.stringify((request as { kind: unknown }).kind)}`);
  }
  if (claims === null) {
    return options.allowUnsigned === true
      ? { requestId: request.requestId, permitted: true }
      : deny('unsigned artifacts are not allowed');
  }
  if (claims.expired) return deny(`the claims of ${claims.publicKey} have expired`);
  if (!options.allowedIssuers.includes(claims.issuer)) {
    return deny(`issuer ${claims.issuer} is not allowed`);
  }
  return { requestId: request.requestId, permitted: true };
}

function what(request: PolicyRequest): string {
  switch (request.kind) {
    case 'startComponent':
      return `start component ${request.request.componentId}`;
    case 'startProvider':
      return `start provider ${request.request.providerId}`;
    case 'performInvocation':
      return `invoke ${request.request.interface}.${request.request.function} of ${request.request.target.componentId}`;
    default:
      return 'an unknown request';
  }
}

function answer(msg: Msg, options: PolicyServiceOptions): void {
  let request: PolicyRequest;
  try {
    request = msg.json<PolicyRequest>();
  } catch {
    // Without a request id there is nobody to answer; the host times out and fails closed.
    options.log?.('ignored a request that is not JSON');
    return;
  }
  if (typeof request?.requestId !== 'string') return;
  let response: PolicyResponse;
  let action: string;
  try {
    if (request.version !== 'v1') throw new Error(`unknown version ${JSON.stringify(request.version)}`);
    response = decide(request, options);
    action = what(request);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    response = { requestId: request.requestId, permitted: false, message: `malformed request: ${reason}` };
    action = `request ${request.requestId}`;
  }
  const reason = response.message === undefined ? '' : `: ${response.message}`;
  options.log?.(`${response.permitted ? 'permit' : 'deny'} ${action}${reason}`);
  msg.respond(JSON.stringify(response));
}

export async function startPolicyService(options: PolicyServiceOptions): Promise<PolicyService> {
  const nc: NatsConnection = await connect({ servers: options.servers, name: 'policy-service' });
  nc.subscribe(options.topic, {
    queue: 'policy-service',
    callback: (err, msg) => {
      if (err === null) answer(msg, options);
    },
  });
  await nc.flush();
  return { stop: () => nc.drain() };
}
