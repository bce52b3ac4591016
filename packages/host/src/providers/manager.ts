/**
 * Capability providers running on this host: start, stop, and delivery of the links and config that
 * concern them, with the 1.x events.
 */
import {
  assertValidId,
  describeError,
  ProviderAlreadyRunningError,
  ProviderNotRunningError,
  UnknownProviderError,
  UnsupportedReferenceError,
} from '@cirrus/protocol';
import type { Limits, Link, Logger, ProviderDescription, StringMap } from '@cirrus/protocol';
import type { LatticeState, LinkChange } from '../lattice-state.ts';
import type { PolicyClient } from '../policy.ts';
import { StartGuard } from '../start-guard.ts';
import type { EventSink } from '../ports.ts';
import { BUILTIN_SCHEME, builtinName } from '@cirrus/provider-core';
import type { BuiltinProvider, ProviderContext, ResolvedLink } from '@cirrus/provider-core';
import type { LatticeConnection } from '@cirrus/lattice';
import type { CallPath } from '../calls.ts';
import { observe } from '../metrics.ts';
import type { HostMetricsRecorder } from '../metrics.ts';
import type { LocalProvider, LocalTargets } from '../local-targets.ts';
import { hostPlatform } from '#platform';
import type { ProviderRpc } from './external.ts';

export interface StartProviderCommand {
  providerRef: string;
  providerId: string;
  config?: string[];
  annotations?: StringMap;
}

export interface ProviderManagerOptions {
  hostId: string;
  lattice: string;
  /** The host's lattice connection, for providers that keep state in the lattice (NATS KV). */
  connection: LatticeConnection;
  state: LatticeState;
  events: EventSink;
  limits: Limits;
  logger: Logger;
  /** Where running providers are kept, for the call path to find. */
  targets: LocalTargets;
  /** How providers call components. */
  calls: CallPath;
  /** Counts the calls to built-in providers; a stopped provider's series are dropped. */
  metrics: HostMetricsRecorder;
  builtins: Readonly<Record<string, BuiltinProvider>>;
  /** Whether providers may be started from files (the host's `allowFileLoad`); default false. */
  allowFileLoad?: boolean;
  /** The host's `requireSigned`: provider programs, which carry no claims, are then refused. */
  requireSigned?: boolean;
  /** Where provider processes connect; without it, providers cannot be started from files. */
  providerRpc?: () => ProviderRpc | undefined;
  /** Asked before every start; without it every start is permitted. */
  policy?: PolicyClient | undefined;
  /** Checks invocations of built-in providers served over wRPC (signed invocations). */
  verifyInvocation?: ProviderContext['verifyInvocation'];
  clusterIssuers?: ProviderContext['clusterIssuers'];
}

/** 1.x reports provider refs without their transport scheme. */
function reportedRef(ref: string): string {
  return ref.replace(/^(file|oci|https?):\/\//, '');
}

export class ProviderManager {
  readonly #options: ProviderManagerOptions;
  readonly #running: Map<string, LocalProvider>;
  readonly #starting = new Set<string>();
  readonly #starts = new StartGuard();

  constructor(options: ProviderManagerOptions) {
    this.#options = options;
    this.#running = options.targets.providers;
  }

  /** What runs a provider reference: a program started as a process, or a built-in. */
  #implementation(ref: string): BuiltinProvider {
    const program = hostPlatform.providerProgram(ref);
    if (program !== undefined) {
      return hostPlatform.externalProvider(ref, program, {
        allowFileLoad: this.#options.allowFileLoad ?? false,
        requireSigned: this.#options.requireSigned ?? false,
        events: this.#options.events,
        rpc: this.#options.providerRpc ?? (() => undefined),
      });
    }
    const name = builtinName(ref);
    if (name === undefined) {
      throw new UnsupportedReferenceError(`provider reference ${JSON.stringify(ref)} is not supported`, {
        hint: `use a built-in provider, e.g. ${BUILTIN_SCHEME}http-server, or a provider program as file:///path`,
      });
    }
    const builtin = this.#options.builtins[name];
    if (builtin === undefined) {
      throw new UnknownProviderError(`there is no built-in provider named ${JSON.stringify(name)}`, {
        hint: `available: ${Object.keys(this.#options.builtins)
          .map((n) => BUILTIN_SCHEME + n)
          .join(', ')}`,
      });
    }
    return builtin;
  }

  async start(command: StartProviderCommand): Promise<void> {
    const id = assertValidId('provider_id', command.providerId);
    const { events, hostId, state, logger } = this.#options;
    const annotations = command.annotations ?? {};
    this.#starts.assertOpen();
    if (this.#running.has(id) || this.#starting.has(id)) {
      throw new ProviderAlreadyRunningError(`provider ${id} is already running on this host`, {
        hint: 'stop it first, or start it under another id',
      });
    }
    this.#starting.add(id);
    try {
      const builtin = this.#implementation(command.providerRef);
      // Built-ins and provider programs carry no claims.
      await this.#options.policy?.evaluateStartProvider({
        providerId: id,
        imageRef: command.providerRef,
        annotations,
        claims: undefined,
      });
      const config = command.config ?? [];
      await this.#starts.run(
        async (signal) => {
          const provider = await builtin.start({
            providerId: id,
            hostId,
            lattice: this.#options.lattice,
            connection: this.#options.connection,
            config: await state.resolveConfig(config),
            logger: logger.child({ provider: id }),
            limits: this.#options.limits,
            components: this.#options.calls.callsFor(id),
            verifyInvocation: this.#options.verifyInvocation,
            observe: (instance, fn, handle) =>
              observe(
                this.#options.metrics.provider(id),
                { idAttribute: 'cirrus.provider_id', id },
                instance,
                fn,
                handle,
              ),
            clusterIssuers: this.#options.clusterIssuers,
            signal,
          });
          const started: LocalProvider = {
            id,
            ref: command.providerRef,
            name: builtin.name,
            provider,
            annotations,
            config,
            unserve: this.#options.calls.serveProvider(id, provider),
          };
          // Running before its links are delivered, so that a link put meanwhile reaches it too.
          this.#running.set(id, started);
          try {
            await state.ensureSpec(id, command.providerRef);
            for (const link of state.linksInvolving(id)) await this.#deliver(started, link, 'put');
          } catch (err) {
            this.#running.delete(id);
            started.unserve();
            await provider.shutdown();
            throw err;
          }
          return started;
        },
        async (started) => {
          this.#running.delete(id);
          started.unserve();
          await started.provider.shutdown();
        },
      );
    } catch (err) {
      events.publish('provider_start_failed', {
        provider_ref: command.providerRef,
        provider_id: id,
        host_id: hostId,
        error: describeError(err),
        link_name: 'default',
      });
      throw err;
    } finally {
      this.#starting.delete(id);
    }
    logger.info('provider started', { provider: id, ref: command.providerRef });
    events.publish('provider_started', {
      host_id: hostId,
      image_ref: reportedRef(command.providerRef),
      provider_id: id,
      annotations,
    });
  }

  async stop(providerId: string): Promise<void> {
    const id = assertValidId('provider_id', providerId);
    const running = this.#running.get(id);
    if (running === undefined) {
      throw new ProviderNotRunningError(`provider ${id} is not running on this host`, {
        hint: 'list what runs here with: cirrus get inventory',
      });
    }
    await this.#stop(running);
  }

  async #stop(running: LocalProvider): Promise<void> {
    const { events, hostId, logger } = this.#options;
    this.#running.delete(running.id);
    running.unserve();
    try {
      await running.provider.shutdown();
    } catch (err) {
      logger.warn('provider shutdown failed', { provider: running.id, error: describeError(err) });
    }
    this.#options.metrics.forgetProvider(running.id);
    logger.info('provider stopped', { provider: running.id });
    events.publish('provider_stopped', {
      host_id: hostId,
      provider_id: running.id,
      annotations: running.annotations,
      reason: 'stop',
      instance_id: running.id,
      public_key: running.id,
      link_name: 'default',
    });
  }

  /** Stops every provider, including those still starting: nothing they started outlives this. */
  async stopAll(): Promise<void> {
    await this.#starts.close();
    await Promise.all([...this.#running.values()].map((p) => this.#stop(p)));
  }

  async #resolve(link: Link): Promise<ResolvedLink> {
    const resolveLenient = async (names: string[]): Promise<StringMap> => {
      const merged: StringMap = {};
      for (const name of names) Object.assign(merged, (await this.#options.state.getConfig(name)) ?? {});
      return merged;
    };
    return {
      ...link,
      source_config: await resolveLenient(link.source_config),
      target_config: await resolveLenient(link.target_config),
    };
  }

  async #deliver(running: LocalProvider, link: Link, op: 'put' | 'del'): Promise<void> {
    const resolved = await this.#resolve(link);
    const { provider } = running;
    if (link.source_id === running.id) {
      await (op === 'put'
        ? provider.receiveLinkAsSource?.(resolved)
        : provider.deleteLinkAsSource?.(resolved));
    }
    if (link.target === running.id) {
      await (op === 'put'
        ? provider.receiveLinkAsTarget?.(resolved)
        : provider.deleteLinkAsTarget?.(resolved));
    }
  }

  /** Applies link changes to the providers they concern; rethrows the first failure. */
  async onLinksChanged(change: LinkChange): Promise<void> {
    const errors: unknown[] = [];
    const apply = async (link: Link, op: 'put' | 'del'): Promise<void> => {
      for (const id of new Set([link.source_id, link.target])) {
        const running = this.#running.get(id);
        if (running === undefined) continue;
        try {
          await this.#deliver(running, link, op);
        } catch (err) {
          this.#options.logger.error('provider rejected link', {
            provider: id,
            target: link.target,
            error: describeError(err),
          });
          errors.push(err);
        }
      }
    };
    for (const link of change.removed) await apply(link, 'del');
    for (const link of change.added) await apply(link, 'put');
    if (errors.length > 0) throw errors[0];
  }

  /** Re-delivers provider config and affected links when a named config changes. */
  async onConfigChanged(name: string): Promise<void> {
    for (const running of this.#running.values()) {
      if (running.config.includes(name)) {
        const config = await this.#options.state.resolveConfig(running.config).catch(() => ({}));
        await running.provider.updateConfig?.(config);
      }
      for (const link of this.#options.state.linksInvolving(running.id)) {
        if (link.source_config.includes(name) || link.target_config.includes(name)) {
          await this.#deliver(running, link, 'put').catch((err: unknown) =>
            this.#options.logger.error('provider rejected updated link config', {
              provider: running.id,
              error: describeError(err),
            }),
          );
        }
      }
    }
  }

  isRunning(id: string): boolean {
    return this.#running.has(id);
  }

  /** Running or still starting: a second start of the id would be refused. */
  has(id: string): boolean {
    return this.#running.has(id) || this.#starting.has(id);
  }

  describe(): ProviderDescription[] {
    return [...this.#running.values()].map((p) => ({
      id: p.id,
      image_ref: reportedRef(p.ref),
      name: p.name,
      annotations: p.annotations,
      revision: 0,
    }));
  }
}
