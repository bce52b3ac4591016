/**
 * A lattice that spans regions, for tests: a hub (`startNatsServer({ leafnodes: true, jetstream:
 * { domain } })`) and leaf node servers joined to it, each through a relay the test can cut or stall
 * (the network between two regions). A leaf has no JetStream of its own unless asked: its clients reach
 * the hub's through the hub's domain, which is how a wasmCloud lattice spans regions.
 */
import { waitFor } from './deadline.ts';
import { startNatsServer } from './nats-server.ts';
import type { NatsServer, NatsServerOptions } from './nats-server.ts';
import { startTcpProxy } from './tcp-proxy.ts';
import type { TcpProxy } from './tcp-proxy.ts';

/** What a test does to the link between a leaf and its hub. */
export interface NatsLeafLinkControl {
  /** Drops the link (both servers see it close) and keeps it down; resolves when both know it is gone. */
  cut(): Promise<void>;
  /** Stops moving bytes without closing anything: a silent partition. */
  stall(): void;
  /** Relays again; resolves when the link is up on both ends. */
  restore(): Promise<void>;
  /** Resolves when the leaf and the hub both list this link (`/leafz`); default deadline 10 s. */
  waitUp(timeoutMs?: number): Promise<void>;
}

export interface NatsLeaf extends NatsServer {
  readonly hub: NatsServer;
  readonly link: NatsLeafLinkControl;
}

const DEFAULT_LINK_WAIT_MS = 10_000;
const POLL_MS = 50;

/** Whether the hub lists a leaf connection coming from one of the relay's upstream sockets. */
async function hubSees(hub: NatsServer, relay: TcpProxy): Promise<boolean> {
  const ports = relay.upstreamPorts();
  if (ports.length === 0) return false;
  const links = await hub.leafLinks().catch(() => []);
  return links.some((link) => ports.includes(link.port));
}

class Leaf implements NatsLeaf {
  readonly hub: NatsServer;
  readonly link: NatsLeafLinkControl;
  readonly #server: NatsServer;
  readonly #relay: TcpProxy;

  constructor(hub: NatsServer, server: NatsServer, relay: TcpProxy) {
    this.hub = hub;
    this.#server = server;
    this.#relay = relay;
    const waitUp = async (timeoutMs = DEFAULT_LINK_WAIT_MS): Promise<void> => {
      await server.waitForLeafLinks(1, timeoutMs);
      await waitFor(
        () => hubSees(hub, relay),
        timeoutMs,
        `the hub ${hub.url} to list the leaf link from ${server.url}`,
        POLL_MS,
      );
    };
    this.link = {
      cut: async () => {
        const ports = relay.upstreamPorts();
        relay.cut();
        await server.waitForLeafLinks(0);
        await waitFor(
          async () => (await hub.leafLinks()).every((link) => !ports.includes(link.port)),
          DEFAULT_LINK_WAIT_MS,
          `the hub ${hub.url} to drop the leaf link from ${server.url}`,
          POLL_MS,
        );
      },
      stall: () => relay.stall(),
      restore: async () => {
        relay.restore();
        await waitUp();
      },
      waitUp,
    };
  }

  get url(): string {
    return this.#server.url;
  }
  get monitorUrl(): string {
    return this.#server.monitorUrl;
  }
  get leafUrl(): string | undefined {
    return this.#server.leafUrl;
  }
  get wsUrl(): string {
    return this.#server.wsUrl;
  }
  get port(): number {
    return this.#server.port;
  }
  get wsPort(): number {
    return this.#server.wsPort;
  }
  get storeDir(): string {
    return this.#server.storeDir;
  }
  get configFile(): string {
    return this.#server.configFile;
  }
  get pid(): number {
    return this.#server.pid;
  }
  leafLinks(): ReturnType<NatsServer['leafLinks']> {
    return this.#server.leafLinks();
  }
  waitForLeafLinks(count: number, timeoutMs?: number): Promise<void> {
    return this.#server.waitForLeafLinks(count, timeoutMs);
  }

  /** Restarts the leaf server and waits for its link to the hub. */
  async restart(): Promise<void> {
    await this.#server.restart();
    if (this.#relay.state === 'open') await this.link.waitUp();
  }

  async stop(): Promise<void> {
    try {
      await this.#server.stop();
    } finally {
      await this.#relay.close();
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}

/**
 * Starts a leaf node server joined to `hub` (started with `leafnodes: true`) through a relay, and waits
 * until both ends list the link. Without JetStream unless `options.jetstream` says otherwise.
 */
export async function startNatsLeaf(hub: NatsServer, options: NatsServerOptions = {}): Promise<NatsLeaf> {
  const hubLeafUrl = hub.leafUrl;
  if (hubLeafUrl === undefined) {
    throw new Error('the hub accepts no leaf nodes: start it with startNatsServer({ leafnodes: true })');
  }
  const relay = await startTcpProxy(hubLeafUrl);
  let server: NatsServer;
  try {
    server = await startNatsServer({
      jetstream: false,
      ...options,
      leafRemotes: [`nats-leaf://127.0.0.1:${relay.port}`],
    });
  } catch (err) {
    await relay.close();
    throw err;
  }
  const leaf = new Leaf(hub, server, relay);
  try {
    await leaf.link.waitUp(options.startTimeoutMs ?? DEFAULT_LINK_WAIT_MS);
  } catch (err) {
    await leaf.stop();
    throw err;
  }
  return leaf;
}
