/**
 * A TCP relay on a loopback port that a test can break, to stand for the network between two
 * servers (a leaf node and its hub in another region):
 *
 * - `cut()` closes every relayed connection at once and turns new ones away, as a link whose peer is
 *   gone does: both ends see the connection drop and retry.
 * - `stall()` keeps the connections open but stops moving bytes, as a partition that drops packets
 *   silently does: neither end notices until its own pings go unanswered.
 * - `restore()` relays again (stalled connections carry on where they stopped).
 */
import type { Server, Socket } from 'node:net';
import { createServer, connect as tcpConnect } from 'node:net';

export type TcpProxyState = 'open' | 'cut' | 'stalled';

export interface TcpProxy {
  /** The loopback port the relay listens on, stable for its lifetime. */
  readonly port: number;
  readonly state: TcpProxyState;
  /** Connections being relayed now. */
  readonly connections: number;
  /** The local ports of the relay's connections to the target: how the target sees them. */
  upstreamPorts(): number[];
  cut(): void;
  stall(): void;
  restore(): void;
  /** Closes the listener and every connection. Idempotent. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

interface Pair {
  client: Socket;
  upstream: Socket;
}

class Relay implements TcpProxy {
  readonly #server: Server;
  readonly #target: { host: string; port: number };
  readonly #pairs = new Set<Pair>();
  #state: TcpProxyState = 'open';
  #closed: Promise<void> | undefined;

  constructor(server: Server, target: { host: string; port: number }) {
    this.#server = server;
    this.#target = target;
    server.on('connection', (client) => this.#accept(client));
  }

  get port(): number {
    const address = this.#server.address();
    if (typeof address !== 'object' || address === null) throw new Error('the relay is not listening');
    return address.port;
  }

  get state(): TcpProxyState {
    return this.#state;
  }

  get connections(): number {
    return this.#pairs.size;
  }

  upstreamPorts(): number[] {
    return [...this.#pairs].flatMap(({ upstream }) =>
      upstream.localPort === undefined ? [] : [upstream.localPort],
    );
  }

  #accept(client: Socket): void {
    if (this.#state === 'cut' || this.#closed !== undefined) {
      client.destroy();
      return;
    }
    const upstream = tcpConnect(this.#target);
    const pair: Pair = { client, upstream };
    this.#pairs.add(pair);
    const drop = (): void => {
      this.#pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    // Either side ending ends both, as on a real link; errors (resets) are part of what is relayed.
    for (const socket of [client, upstream]) {
      socket.on('error', drop);
      socket.on('close', drop);
    }
    this.#forward(client, upstream);
    this.#forward(upstream, client);
    if (this.#state === 'stalled') this.#pause(pair);
  }

  /**
   * By hand rather than with pipe(): a piped stream resumes itself when its destination drains, which
   * would end a stall.
   */
  #forward(from: Socket, to: Socket): void {
    from.on('data', (chunk: Buffer) => {
      if (to.write(chunk)) return;
      from.pause();
      to.once('drain', () => {
        if (this.#state === 'open') from.resume();
      });
    });
  }

  #pause(pair: Pair): void {
    pair.client.pause();
    pair.upstream.pause();
  }

  cut(): void {
    this.#state = 'cut';
    for (const { client, upstream } of this.#pairs) {
      client.destroy();
      upstream.destroy();
    }
    this.#pairs.clear();
  }

  stall(): void {
    this.#state = 'stalled';
    for (const pair of this.#pairs) this.#pause(pair);
  }

  restore(): void {
    this.#state = 'open';
    for (const { client, upstream } of this.#pairs) {
      client.resume();
      upstream.resume();
    }
  }

  close(): Promise<void> {
    this.#closed ??= new Promise<void>((resolve) => {
      this.cut();
      this.#server.close(() => resolve());
    });
    return this.#closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** Starts a relay from a free loopback port to `target` (`host:port` or a URL with both). */
export async function startTcpProxy(target: string): Promise<TcpProxy> {
  const url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(target) ? target : `tcp://${target}`);
  if (url.port === '') throw new Error(`${target} names no port`);
  const server = createServer();
  const relay = new Relay(server, { host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port) });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return relay;
}
