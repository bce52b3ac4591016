/** Helpers the host's integration tests share. */
import { request } from 'node:http';
import { waitFor, withDeadline } from '@cirrus/testing';
import type { LatticeConnection, Msg, Subscription } from '@cirrus/lattice';
import { connectNats } from '@cirrus/lattice-nats';
import type { NatsLatticeConnection } from '@cirrus/lattice-nats';
import { resolveLimits } from '@cirrus/protocol';
import type { CloudEvent } from '@cirrus/protocol';
import { BUILTIN_PROVIDERS, WIRE_BINDINGS } from '@cirrus/providers';
import { createHost } from '../src/index.ts';
import type { Host, HostOptions } from '../src/index.ts';

export type Event = CloudEvent<Record<string, unknown>>;

/** The built-in providers and wire bindings `cirrus up` gives its host, for hosts made by tests. */
export const WITH_BUILTINS = { builtinProviders: BUILTIN_PROVIDERS, wireBindings: WIRE_BINDINGS } as const;

/** Records every lattice event of the `default` lattice, so tests can wait for one by type. */
export class EventLog {
  readonly events: Event[] = [];
  readonly #sub: Subscription;

  constructor(conn: LatticeConnection) {
    this.#sub = conn.subscribe('wasmbus.evt.default.>', {
      callback: (msg: Msg) => this.events.push(msg.json<Event>()),
    });
  }

  /** Where the log is now: wait for events that arrive after this point. */
  get mark(): number {
    return this.events.length;
  }

  /** The events of `type` (the short name, e.g. `component_scaled`) since `mark`. */
  since(mark: number, type: string, predicate: (e: Event) => boolean = () => true): Event[] {
    return this.events.slice(mark).filter((e) => e.type === `com.wasmcloud.lattice.${type}` && predicate(e));
  }

  /** The first event of `type` since `mark` that matches, failing after `ms`. */
  next(type: string, mark = 0, predicate: (e: Event) => boolean = () => true, ms = 10_000): Promise<Event> {
    return waitFor(() => this.since(mark, type, predicate)[0], ms, `event ${type}`);
  }

  stop(): void {
    this.#sub.unsubscribe();
  }
}

/** GET on a fresh connection with a deadline; rejects when the connection is refused. */
export async function httpGet(port: number, path: string): Promise<{ status: number; body: string }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(5000) });
  return { status: response.status, body: await response.text() };
}

/**
 * Routes 127.0.0.1:`port` to `componentId` through the running HTTP server provider `web`. Several
 * components can share the provider, each under its own link name.
 */
export async function routeHttp(
  host: Host,
  componentId: string,
  port: number,
  linkName = 'default',
  path?: string,
): Promise<void> {
  const config = `listen-${componentId}`;
  await host.putConfig(config, { address: `127.0.0.1:${port}`, ...(path === undefined ? {} : { path }) });
  await host.putLink({
    source_id: 'web',
    target: componentId,
    name: linkName,
    wit_namespace: 'wasi',
    wit_package: 'http',
    interfaces: ['incoming-handler'],
    source_config: [config],
  });
}

/** Puts `componentId` behind the built-in HTTP server (provider `web`, started here) on 127.0.0.1:`port`. */
export async function serveOverHttp(host: Host, componentId: string, port: number): Promise<void> {
  await host.startProvider({ providerRef: 'wasmcloud+builtin://http-server', providerId: 'web' });
  await routeHttp(host, componentId, port);
}

/** A host on its own connection to `natsUrl`, sharing `cacheDir` with the test's other hosts. */
export async function hostOnNats(
  natsUrl: string,
  name: string,
  cacheDir: string,
  extra: Partial<HostOptions> = {},
): Promise<{ host: Host; connection: NatsLatticeConnection }> {
  const connection = await connectNats({ servers: natsUrl, name: `host-${name}` });
  const host = await createHost({
    ...WITH_BUILTINS,
    lattice: connection,
    friendlyName: `host-${name}`,
    cacheDir,
    allowFileLoad: true,
    heartbeatIntervalMs: 0,
    limits: resolveLimits({ maxInstances: 10 }),
    ...extra,
  });
  return { host, connection };
}

export interface RawReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  text: string;
}

/**
 * One request on a fresh connection with the path sent as it is (fetch would resolve `..` segments
 * before sending), failing after `timeoutMs`.
 */
export function sendRaw(
  port: number,
  method: string,
  path: string,
  body?: Uint8Array | string,
  timeoutMs = 20_000,
): Promise<RawReply> {
  const reply = new Promise<RawReply>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const all = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: all, text: all.toString('utf8') });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
  return withDeadline(reply, timeoutMs, `${method} ${path}`);
}
