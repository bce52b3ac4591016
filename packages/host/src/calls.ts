/**
 * The call path: the one way anything on this host reaches a target. A component's linked imports,
 * the HTTP server, messaging delivery and every other provider call come here; the target is a
 * provider on this host, a component on this host, or, when neither runs here, whatever serves the
 * target's id on the lattice (its queue group, so hosts running the same component share its calls).
 * The policy service is asked here, once per call to a component, and invocations that leave the
 * host are signed here.
 */
import {
  ComponentNotRunningError,
  ComponentStoppedError,
  ImportFailedError,
  witInterfaceKey,
  wrpcExportInstance,
  WRPC_HTTP_INCOMING_HANDLER,
} from '@cirrus/protocol';
import type { StringMap } from '@cirrus/protocol';
import { inSpan, SpanKind } from '@cirrus/lattice';
import type { Span } from '@cirrus/lattice';
import { exportFunctionName, invokeAcrossHosts } from '@cirrus/provider-core';
import type {
  CapabilityProvider,
  ComponentCalls,
  ImportSource,
  RemoteExport,
  WireBinding,
} from '@cirrus/provider-core';
import type {
  ComponentPool,
  HttpBody,
  HttpRequestHead,
  HttpResponseSink,
  ImportCall,
  ImportHandler,
} from '@cirrus/runtime';
import type { LatticeState } from './lattice-state.ts';
import { BUS_LATTICE, LinkResolver } from './links.ts';
import type { LocalComponent, LocalProvider, LocalTargets } from './local-targets.ts';
import { observe } from './metrics.ts';
import type { HostMetricsRecorder } from './metrics.ts';
import type { PolicyClient } from './policy.ts';
import { invokeRemoteImport, serveComponentExports, serveProviderExports } from './wrpc/components.ts';
import type { ComponentWrpcOptions } from './wrpc/components.ts';
import { invokeComponentHttp, serveComponentHttp } from './wrpc/http.ts';

const HTTP_HANDLER = 'wasi:http/incoming-handler';

export interface CallPathOptions {
  state: LatticeState;
  targets: LocalTargets;
  /** The lattice connection calls leave on, with the signing of what is sent and checked. */
  wire: ComponentWrpcOptions;
  /** Asked before every call to a component; without it every call is permitted. */
  policy: PolicyClient | undefined;
  /** Interfaces that take another form between hosts than themselves (wasi:keyvalue). */
  bindings: readonly WireBinding[];
  /** Counts the calls to the built-in providers running here. */
  metrics: HostMetricsRecorder;
}

export class CallPath {
  readonly #state: LatticeState;
  readonly #targets: LocalTargets;
  readonly #links: LinkResolver;
  readonly #wire: ComponentWrpcOptions;
  readonly #policy: PolicyClient | undefined;
  readonly #bindings: ReadonlyMap<string, WireBinding>;
  readonly #metrics: HostMetricsRecorder;

  constructor(options: CallPathOptions) {
    this.#state = options.state;
    this.#targets = options.targets;
    this.#links = new LinkResolver(options.state, options.wire.logger);
    this.#wire = options.wire;
    this.#policy = options.policy;
    this.#bindings = new Map(options.bindings.flatMap((b) => b.interfaces.map((iface) => [iface, b])));
    this.#metrics = options.metrics;
  }

  /** The import handler of a component's instances. */
  importsOf(componentId: string): ImportHandler {
    return (call) => this.#import(componentId, call);
  }

  /** How the provider `providerId` calls components. */
  callsFor(providerId: string): ComponentCalls {
    return {
      invoke: (componentId, exportInterface, fn, args, remote) =>
        this.#invokeExport(providerId, componentId, exportInterface, fn, args, remote),
      handleHttp: (componentId, head, body, sink, signal) =>
        this.#http(componentId, head, body, sink, signal),
    };
  }

  /** The link a component's import resolves through (for inspection and tests). */
  resolveLink(componentId: string, interfaceName: string, linkName?: string) {
    return this.#links.resolve(componentId, interfaceName, linkName);
  }

  /**
   * Serves the exports of a component that runs here to other hosts; returns how to stop. Each
   * invocation is put to the policy service first.
   */
  serveExports(componentId: string, pool: ComponentPool, imageRef: string): () => void {
    const authorize = (instance: string, fn: string): Promise<void> =>
      this.#policy?.evaluatePerformInvocation(
        {
          componentId,
          imageRef,
          annotations: this.#targets.components.get(componentId)?.annotations ?? {},
          claims: pool.component.claims,
        },
        instance,
        fn,
      ) ?? Promise.resolve();
    const subscriptions = serveComponentExports(
      this.#wire,
      componentId,
      pool.component.interfaces.exports,
      (iface, fn, args) =>
        this.#onReplacement(
          componentId,
          pool,
          () => pool.invoke(iface, fn, args),
          (c) => this.#permitted(c, iface, fn, () => c.pool.invoke(iface, fn, args)),
        ),
      authorize,
    );
    if (pool.component.exports.some((name) => witInterfaceKey(name) === HTTP_HANDLER)) {
      subscriptions.push(
        serveComponentHttp(this.#wire, componentId, async (head, body, sink) => {
          await authorize(WRPC_HTTP_INCOMING_HANDLER, 'handle');
          return this.#onReplacement(
            componentId,
            pool,
            () => pool.handleHttp(head, body, sink),
            (c) => this.#permitted(c, HTTP_HANDLER, 'handle', () => c.pool.handleHttp(head, body, sink)),
          );
        }),
      );
    }
    return () => {
      for (const sub of subscriptions) sub.unsubscribe();
    };
  }

  /** Serves what a provider running here offers components on other hosts; returns how to stop. */
  serveProvider(providerId: string, provider: CapabilityProvider): () => void {
    const subscriptions = serveProviderExports(
      this.#wire,
      providerId,
      provider,
      this.#metrics.provider(providerId),
    );
    return () => {
      for (const sub of subscriptions) sub.unsubscribe();
    };
  }

  async #import(componentId: string, call: ImportCall): Promise<unknown> {
    if (call.interface === BUS_LATTICE) return this.#links.bus(call);
    return inSpan(
      `${call.interface}/${exportFunctionName(call)}`,
      {
        kind: SpanKind.CLIENT,
        attributes: {
          'cirrus.component_id': componentId,
          'rpc.service': call.interface,
          'rpc.method': exportFunctionName(call),
        },
      },
      (span) => this.#linkedImport(componentId, call, span),
    );
  }

  async #linkedImport(componentId: string, call: ImportCall, span: Span): Promise<unknown> {
    const link = this.#links.linkFor(componentId, call);
    span.setAttributes({ 'cirrus.link_name': link.name, 'cirrus.target_id': link.target });
    const source: ImportSource = {
      sourceId: componentId,
      linkName: link.name,
      invocation: call.invocation,
      componentConfig: () => this.#componentConfig(componentId),
    };
    // A provider process serves its exports over the lattice, as one on another host would.
    const provider = this.#targets.providers.get(link.target);
    if (provider?.provider.exports !== undefined) {
      const name = exportFunctionName(call);
      return observe(
        this.#metrics.provider(provider.id),
        { idAttribute: 'cirrus.provider_id', id: provider.id },
        call.interface,
        name,
        () => callProvider(provider, name, call, source),
      );
    }
    const component = await this.#targets.component(link.target);
    if (component !== undefined) {
      // A resource lives in one instance of the component that exported it; the runtime routes
      // every call on it there (adr/0008). Policy sees the function as the component model names it.
      const { resource } = call;
      if (resource !== undefined) {
        const fn =
          call.fn === '[constructor]'
            ? `[constructor]${resource}`
            : `[${call.self === undefined ? 'static' : 'method'}]${resource}.${call.fn}`;
        return this.#permitted(component, call.interface, fn, () =>
          component.pool.invokeResource(call.interface, {
            resource,
            fn: call.fn,
            self: call.self,
            args: call.args,
          }),
        );
      }
      return this.#onCurrent(component, (c) =>
        this.#permitted(c, call.interface, call.fn, () => c.pool.invoke(call.interface, call.fn, call.args)),
      );
    }
    const binding = this.#bindings.get(call.interface);
    if (binding !== undefined) return binding.invoke(this.#wire, link.target, call, source);
    const imports = this.#targets.components.get(componentId)?.pool.component.interfaces.imports;
    return invokeRemoteImport(this.#wire, imports ?? new Map(), link.target, call, source);
  }

  async #invokeExport(
    sourceId: string,
    componentId: string,
    exportInterface: string,
    fn: string,
    args: unknown[],
    remote: RemoteExport | undefined,
  ): Promise<unknown> {
    const component = await this.#targets.component(componentId);
    if (component !== undefined) {
      return this.#onCurrent(component, (c) =>
        this.#permitted(c, exportInterface, fn, () => c.pool.invoke(exportInterface, fn, args)),
      );
    }
    if (remote === undefined) throw notRunning(componentId);
    return invokeAcrossHosts(this.#wire, {
      targetId: componentId,
      instance: remote.instance,
      fn: remote.fn,
      args,
      sourceId,
      linkName: 'default',
    });
  }

  async #http(
    componentId: string,
    head: HttpRequestHead,
    body: HttpBody,
    sink: HttpResponseSink,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const component = await this.#targets.component(componentId);
    if (component === undefined) {
      return invokeComponentHttp(this.#wire, componentId, head, body, sink, signal);
    }
    return this.#onCurrent(component, (c) =>
      this.#permitted(c, HTTP_HANDLER, 'handle', () => c.pool.handleHttp(head, body, sink)),
    );
  }

  /** Makes `call` on the component running here, or on the version that replaced it (below). */
  #onCurrent<T>(component: LocalComponent, call: (component: LocalComponent) => Promise<T>): Promise<T> {
    return this.#onReplacement(component.id, component.pool, () => call(component), call);
  }

  /**
   * Makes `first`, a call on `pool`; if that pool was replaced meanwhile, the call is made again with
   * `again` on the component now running as `id`. An update (or a scale with other config) starts
   * the new version, switches over to it, then closes the old pool, and a closed pool refuses with
   * COMPONENT_STOPPED the callers still queued on it and those that took it in hand just before the
   * switch. A pool refuses before it hands out an instance, so the component saw nothing of such a
   * call (no body read, no response begun) and it is safe to make again; without this, every
   * upgrade under load failed the requests queued at that moment with 503. `again` asks the policy
   * service about the new version. A component stopped and not replaced still refuses.
   */
  async #onReplacement<T>(
    id: string,
    pool: ComponentPool,
    first: () => Promise<T>,
    again: (component: LocalComponent) => Promise<T>,
  ): Promise<T> {
    try {
      return await first();
    } catch (err) {
      if (!(err instanceof ComponentStoppedError)) throw err;
      const next = await this.#targets.component(id);
      if (next === undefined || next.pool === pool) throw err;
      return this.#onReplacement(id, next.pool, () => again(next), again);
    }
  }

  /**
   * Makes `call` once the policy service permits invoking `fn` of the export `exportInterface`
   * (unversioned), asked under the wRPC instance 1.x serves it as. 1.x asks before every invocation
   * of a component, all of which travel over the lattice; here calls on this host are asked about
   * too, so that moving a caller next to its target does not get it past a denial.
   */
  #permitted<T>(
    component: LocalComponent,
    exportInterface: string,
    fn: string,
    call: () => Promise<T>,
  ): Promise<T> {
    if (this.#policy === undefined) return call();
    const { pool } = component;
    const name = pool.component.exports.find((e) => witInterfaceKey(e) === exportInterface);
    const instance = name === undefined ? exportInterface : wrpcExportInstance(name).instance;
    return this.#policy
      .evaluatePerformInvocation(
        {
          componentId: component.id,
          imageRef: component.imageRef,
          annotations: component.annotations,
          claims: pool.component.claims,
        },
        instance,
        fn,
      )
      .then(call);
  }

  /** The merged named config a running component was started with (empty when not running). */
  async #componentConfig(componentId: string): Promise<StringMap> {
    const running = this.#targets.components.get(componentId);
    return running === undefined ? {} : this.#state.resolveConfig(running.config);
  }
}

/** Runs an import call with the handler the provider exports for it. */
function callProvider(
  provider: LocalProvider,
  name: string,
  call: ImportCall,
  source: ImportSource,
): Promise<unknown> {
  const handler = provider.provider.exports?.[call.interface]?.[name];
  if (handler === undefined) {
    return Promise.reject(
      new ImportFailedError(`${provider.id} does not serve ${call.interface}#${name}`, {
        hint: `link ${source.sourceId} to a provider that serves ${call.interface}`,
      }),
    );
  }
  const args = (call.self === undefined ? call.args : [call.self, ...call.args]) as never[];
  try {
    return Promise.resolve(handler(source, ...args));
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}

function notRunning(componentId: string): ComponentNotRunningError {
  return new ComponentNotRunningError(`component ${componentId} is not running on this host`, {
    hint: `start it: cirrus scale component <host> <ref> ${componentId} --count 1`,
  });
}
