/**
 * The built-in HTTP server provider (`wasmcloud+builtin://http-server`). A link from the provider to
 * a component over `wasi:http/incoming-handler` routes requests to that component. Link source config
 * (the 1.x keys): `address` (default: the provider's `default_address`, else 127.0.0.1:8000), and
 * optionally `path` (a path prefix) and `host` (a Host header) so several components share a listener.
 */
import type { StringMap } from '@cirrus/protocol';
import type {
  BuiltinProvider,
  CapabilityProvider,
  ProviderContext,
  ResolvedLink,
} from '@cirrus/provider-core';
import { Listener } from './listener.ts';
import { normaliseHost, normalisePath, parseAddress } from './routes.ts';

export const DEFAULT_HTTP_ADDRESS = '127.0.0.1:8000';

function servesHttp(link: ResolvedLink): boolean {
  return (
    link.wit_namespace === 'wasi' &&
    link.wit_package === 'http' &&
    link.interfaces.includes('incoming-handler')
  );
}

function routeKey(link: ResolvedLink): string {
  return `${link.source_id}|${link.target}|${link.wit_namespace}:${link.wit_package}|${link.name}`;
}

class HttpServerProvider implements CapabilityProvider {
  readonly #context: ProviderContext;
  #config: StringMap;
  readonly #listeners = new Map<string, Promise<Listener>>();
  readonly #routeAddress = new Map<string, string>();

  constructor(context: ProviderContext) {
    this.#context = context;
    this.#config = context.config;
  }

  async receiveLinkAsSource(link: ResolvedLink): Promise<void> {
    if (!servesHttp(link)) {
      this.#context.logger.warn('ignoring link: the http server only serves wasi:http/incoming-handler', {
        target: link.target,
        interface: `${link.wit_namespace}:${link.wit_package}`,
      });
      return;
    }
    const config = link.source_config;
    const address = parseAddress(
      config['address'] ?? this.#config['default_address'] ?? DEFAULT_HTTP_ADDRESS,
    );
    const key = routeKey(link);
    const route = {
      key,
      componentId: link.target,
      path: normalisePath(config['path']),
      host: normaliseHost(config['host']),
    };
    const listener = await this.#listener(address.key);
    listener.routes.put(route);
    const previous = this.#routeAddress.get(key);
    this.#routeAddress.set(key, address.key);
    if (previous !== undefined && previous !== address.key) await this.#removeRoute(previous, key);
    this.#context.logger.info('http route added', {
      // With port 0 the operating system picks the port; the log is where the user learns it.
      address: `http://${address.key.replace(/\d+$/, String(listener.port))}${route.path}`,
      host: route.host,
      component: link.target,
    });
  }

  async deleteLinkAsSource(link: ResolvedLink): Promise<void> {
    const key = routeKey(link);
    const address = this.#routeAddress.get(key);
    if (address === undefined) return;
    this.#routeAddress.delete(key);
    await this.#removeRoute(address, key);
  }

  async updateConfig(config: StringMap): Promise<void> {
    this.#config = config;
  }

  #listener(address: string): Promise<Listener> {
    let listener = this.#listeners.get(address);
    if (listener === undefined) {
      const { limits, logger, components } = this.#context;
      listener = Listener.open({ address: parseAddress(address), limits, logger, components });
      this.#listeners.set(address, listener);
      listener.catch(() => this.#listeners.delete(address));
    }
    return listener;
  }

  async #removeRoute(address: string, key: string): Promise<void> {
    const pending = this.#listeners.get(address);
    if (pending === undefined) return;
    const listener = await pending;
    listener.routes.remove(key);
    if (listener.routes.size === 0) {
      this.#listeners.delete(address);
      await listener.close(this.#context.limits.httpDrainTimeoutMs);
      this.#context.logger.info('http listener closed', { address });
    }
  }

  async shutdown(): Promise<void> {
    const settled = await Promise.allSettled([...this.#listeners.values()]);
    this.#listeners.clear();
    const open = settled.flatMap((l) => (l.status === 'fulfilled' ? [l.value] : []));
    await Promise.all(open.map((l) => l.close(this.#context.limits.httpDrainTimeoutMs)));
  }
}

export const httpServerProvider: BuiltinProvider = {
  name: 'HTTP Server',
  start: async (context) => new HttpServerProvider(context),
};
