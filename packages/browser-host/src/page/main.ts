/**
 * The page at `/host`: joins a lattice as a host, from the tab. `?nats=<websocket URL>` names the
 * NATS server (the server does its own authentication: `token`, `user` and `password` in the URL or
 * the form); without it, a signed-in dashboard session joins the serving host's embedded lattice.
 * Closing the tab stops the host, announcing `host_stopped` on the way out.
 */
import { createHost, createLogger } from '@cirrus/host';
import type { Host, SignedInvocationOptions } from '@cirrus/host';
import { withServedKv } from '@cirrus/lattice';
import type { LatticeConnection } from '@cirrus/lattice';
import { connectNats } from '@cirrus/lattice-nats';
import type { NatsCredentials, NatsLatticeConnection } from '@cirrus/lattice-nats';
import { describeError, Nkey, resolveLimits } from '@cirrus/protocol';
import type { StringMap } from '@cirrus/protocol';
import { WIRE_BINDINGS } from '@cirrus/providers';
import { createComponentRuntime } from '@cirrus/runtime';
import { BOOTSTRAP_PATH, CREDENTIAL_PATH } from '../bootstrap.ts';
import type { BrowserHostBootstrap } from '../bootstrap.ts';
import { createView } from './view.ts';

const view = createView(document);

interface JoinRequest {
  servers: string;
  /**
   * The serving host's embedded lattice: it has no JetStream, and serves key-value over lattice
   * requests instead (`$CIRRUS.KV`).
   */
  embedded: boolean;
  lattice: string | undefined;
  credentials: NatsCredentials | undefined;
}

function credentialsOf(get: (name: string) => string | null): NatsCredentials | undefined {
  const token = get('token');
  const user = get('user');
  const creds = get('creds');
  if (creds) return { type: 'creds', creds };
  if (token) return { type: 'token', token };
  if (user) return { type: 'user', user, password: get('password') ?? '' };
  return undefined;
}

/** `label=zone=eu` (repeatable) adds labels; `hostcore.*` ones are the host's own. */
function labelsOf(params: URLSearchParams): StringMap {
  const labels: StringMap = {};
  for (const pair of params.getAll('label')) {
    const at = pair.indexOf('=');
    if (at > 0) labels[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return labels;
}

function field(form: FormData, name: string): string | null {
  const value = form.get(name);
  return typeof value === 'string' ? value : null;
}

async function bootstrap(): Promise<BrowserHostBootstrap> {
  const response = await fetch(BOOTSTRAP_PATH, { credentials: 'same-origin' });
  if (!response.ok)
    throw new Error(`the serving host did not answer the bootstrap (HTTP ${response.status})`);
  return (await response.json()) as BrowserHostBootstrap;
}

/**
 * Signed invocations as the serving host has them, or as the URL asks (`require-signed-invocations=true`
 * with `cluster-issuer=C…`, repeatable); the tab signs its own when the serving host issues it credentials.
 */
function signedInvocations(
  boot: BrowserHostBootstrap,
  params: URLSearchParams,
  hostId: string,
): SignedInvocationOptions | undefined {
  const served = boot.signedInvocations;
  const require = served.require || params.get('require-signed-invocations') === 'true';
  const clusterIssuers =
    served.clusterIssuers.length > 0 ? served.clusterIssuers : params.getAll('cluster-issuer');
  if (!require && !served.sign) return undefined;
  return {
    require,
    ...(require ? { clusterIssuers } : {}),
    ...(served.sign
      ? {
          sign: true,
          hostCredential: async () => {
            const response = await fetch(CREDENTIAL_PATH, {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ hostId }),
            });
            if (!response.ok)
              throw new Error(`the serving host issued no credential (HTTP ${response.status})`);
            return ((await response.json()) as { credential: string }).credential;
          },
        }
      : {}),
  };
}

async function join(
  boot: BrowserHostBootstrap,
  request: JoinRequest,
  params: URLSearchParams,
): Promise<void> {
  view.status('connecting');
  const limits = resolveLimits(boot.limits);
  const connection: NatsLatticeConnection = await connectNats({
    servers: request.servers,
    limits,
    name: 'cirrus browser host',
    ...(request.credentials === undefined ? {} : { credentials: request.credentials }),
  });
  const lattice: LatticeConnection = request.embedded ? withServedKv(connection) : connection;
  const logger = createLogger({ format: 'json', write: (line) => view.log(line) });
  const issuers = boot.allowedIssuers.length > 0 ? boot.allowedIssuers : params.getAll('issuer');
  // The tab's own key, so that the serving host can issue it a credential before it starts.
  const hostKey = Nkey.create('server');
  const signed = signedInvocations(boot, params, hostKey.publicKey);
  const policyTopic = params.get('policy-topic');
  let host: Host;
  try {
    host = await createHost({
      lattice,
      latticeName: request.lattice ?? boot.lattice,
      runtime: createComponentRuntime({
        transpiler: boot.transpiler,
        workerUrl: boot.workerUrl,
        limits,
        logger,
      }),
      limits,
      labels: labelsOf(params),
      logger,
      wireBindings: WIRE_BINDINGS,
      hostKey,
      ...(signed === undefined ? {} : { signedInvocations: signed }),
      requireSigned: boot.requireSigned || params.get('require-signed') === 'true',
      ...(issuers.length > 0 ? { allowedIssuers: issuers } : {}),
      ...(policyTopic ? { policy: { topic: policyTopic } } : {}),
    });
  } catch (err) {
    await connection.close().catch(() => undefined);
    throw err;
  }
  view.running(host, request.lattice ?? boot.lattice);
  // A tab can go at any moment: host_stopped leaves before the page does.
  addEventListener('pagehide', () => host.stopNow());
  view.onStop(async () => {
    view.status('stopping');
    await host.stop();
    await connection.close();
  });
  void host.stopped.then(() => view.status('stopped'));
  void (async () => {
    for await (const change of connection.status()) {
      if (change.type === 'disconnected') view.status('reconnecting');
      if (change.type === 'reconnected') view.status('running');
    }
  })();
}

async function main(): Promise<void> {
  const params = new URLSearchParams(location.search);
  const boot = await bootstrap();
  const nats = params.get('nats');
  if (nats) {
    await join(
      boot,
      {
        servers: nats,
        embedded: false,
        lattice: params.get('lattice') ?? undefined,
        credentials: credentialsOf((n) => params.get(n)),
      },
      params,
    );
    return;
  }
  if (boot.embedded !== undefined) {
    const { url, token } = boot.embedded;
    await join(
      boot,
      { servers: url, embedded: true, lattice: undefined, credentials: { type: 'token', token } },
      params,
    );
    return;
  }
  // Neither a NATS server nor a dashboard session: ask for a server.
  view.askToJoin((form) =>
    join(
      boot,
      {
        servers: field(form, 'nats') ?? '',
        embedded: false,
        lattice: field(form, 'lattice') || undefined,
        credentials: credentialsOf((n) => field(form, n)),
      },
      params,
    ).catch((err: unknown) => view.failed(describeError(err))),
  );
}

main().catch((err: unknown) => view.failed(describeError(err)));
