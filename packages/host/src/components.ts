/**
 * The lifecycle of components on this host: scale (including to zero), update and stop, with the 1.x
 * events for every outcome. Operations on one component id run one after another. Calls to the
 * components are the call path's (calls.ts); what runs is kept in the host's LocalTargets.
 */
import {
  assertValidId,
  componentClaimsEventFields,
  ComponentNotRunningError,
  describeError,
  InvalidArgumentError,
  storedComponentClaims,
} from '@cirrus/protocol';
import type { ComponentDescription, Limits, Logger, StringMap } from '@cirrus/protocol';
import type { ComponentPool, ComponentRuntime } from '@cirrus/runtime';
import type { CallPath } from './calls.ts';
import type { LatticeState } from './lattice-state.ts';
import { observedPool } from './metrics.ts';
import type { HostMetricsRecorder } from './metrics.ts';
import type { LocalComponent, LocalTargets } from './local-targets.ts';
import { StartGuard } from './start-guard.ts';
import type { PolicyClient } from './policy.ts';
import type { EventSink } from './ports.ts';

export interface ScaleComponentCommand {
  componentRef: string;
  componentId: string;
  /** Maximum concurrent instances; 0 stops the component. */
  count: number;
  annotations?: StringMap;
  /** Named config merged (in order) into the component's environment. */
  config?: string[];
  allowUpdate?: boolean;
}

export interface UpdateComponentCommand {
  componentId: string;
  newComponentRef: string;
  annotations?: StringMap;
}

export interface ComponentManagerOptions {
  hostId: string;
  runtime: ComponentRuntime;
  state: LatticeState;
  events: EventSink;
  limits: Limits;
  logger: Logger;
  allowFileLoad: boolean;
  /** Where the running components are kept, for the call path to find. */
  targets: LocalTargets;
  /** Serves each component's linked imports, and its exports to other hosts. */
  calls: CallPath;
  /** Asked before every start; without it every start is permitted. */
  policy?: PolicyClient | undefined;
  /** Counts every invocation of the components running here. */
  metrics: HostMetricsRecorder;
  /** What the host demands of component claims beyond checking those present (default: nothing). */
  claims?: ClaimsRequirements;
}

/** The host's `requireSigned` and `allowedIssuers`, and the clock claims' validity is judged by. */
export interface ClaimsRequirements {
  requireSigned: boolean;
  allowedIssuers: readonly string[] | undefined;
  now: () => Date;
}

function checkCount(count: unknown, max: number): number {
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 0 || count > max) {
    throw new InvalidArgumentError(`count ${JSON.stringify(count)} is not a valid instance count`, {
      hint: `use a whole number from 0 (stop) to ${max}`,
    });
  }
  return count;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

export class ComponentManager {
  readonly #options: ComponentManagerOptions;
  readonly #running: Map<string, LocalComponent>;
  /** Work in progress per component id, run one after another. */
  readonly #queues: Map<string, Promise<unknown>>;
  readonly #starts = new StartGuard();

  constructor(options: ComponentManagerOptions) {
    this.#options = options;
    this.#running = options.targets.components;
    this.#queues = options.targets.componentWork;
  }

  #serial<T>(id: string, work: () => Promise<T>): Promise<T> {
    const previous = this.#queues.get(id) ?? Promise.resolve();
    const next = previous.then(work, work);
    const settled = next.then(
      () => undefined,
      () => undefined,
    );
    this.#queues.set(id, settled);
    void settled.then(() => {
      if (this.#queues.get(id) === settled) this.#queues.delete(id);
    });
    return next;
  }

  async scale(command: ScaleComponentCommand): Promise<void> {
    const id = assertValidId('component_id', command.componentId);
    const count = checkCount(command.count, this.#options.limits.maxInstances);
    this.#starts.assertOpen();
    if (typeof command.componentRef !== 'string' || command.componentRef.length === 0) {
      throw new InvalidArgumentError('component_ref is required', {
        hint: 'give a file path or http(s) URL',
      });
    }
    return this.#serial(id, () => this.#scale(id, count, command));
  }

  async #scale(id: string, count: number, command: ScaleComponentCommand): Promise<void> {
    const { events, hostId } = this.#options;
    const annotations = command.annotations ?? {};
    const running = this.#running.get(id);
    if (count === 0) {
      if (running !== undefined) {
        try {
          await this.#stop(running);
        } catch (err) {
          // Callers such as the control interface have already acknowledged: the event is the answer.
          events.publish('component_scale_failed', {
            annotations,
            component_id: id,
            host_id: hostId,
            image_ref: command.componentRef,
            max_instances: 0,
            error: describeError(err),
          });
          throw err;
        }
      }
      events.publish('component_scaled', {
        annotations,
        host_id: hostId,
        image_ref: command.componentRef,
        max_instances: 0,
        component_id: id,
      });
      return;
    }
    const config = command.config ?? [];
    try {
      if (running === undefined) {
        await this.#start(id, command.componentRef, count, annotations, config);
      } else if (running.imageRef !== command.componentRef && command.allowUpdate === true) {
        await this.#replace(running, command.componentRef, count, annotations, config);
      } else if (!sameList(running.config, config)) {
        await this.#replace(running, running.imageRef, count, annotations, config);
      } else {
        running.pool.setMaxInstances(count);
        running.maxInstances = count;
        running.annotations = annotations;
      }
    } catch (err) {
      events.publish('component_scale_failed', {
        annotations,
        component_id: id,
        host_id: hostId,
        image_ref: command.componentRef,
        max_instances: count,
        error: describeError(err),
      });
      throw err;
    }
    const current = this.#running.get(id) as LocalComponent;
    events.publish('component_scaled', {
      ...componentClaimsEventFields(current.pool.component.claims),
      annotations,
      host_id: hostId,
      image_ref: current.imageRef,
      max_instances: count,
      component_id: id,
    });
  }

  async #launch(
    id: string,
    ref: string,
    count: number,
    config: string[],
    annotations: StringMap,
  ): Promise<ComponentPool> {
    const { runtime, state, logger, allowFileLoad, policy, claims } = this.#options;
    const pool = await this.#starts.run(
      async (signal) => {
        const environment = await state.resolveConfig(config);
        const prepared = await runtime.load(ref, {
          allowFileLoad,
          requireSigned: claims?.requireSigned,
          allowedIssuers: claims?.allowedIssuers,
          now: claims?.now(),
          signal,
        });
        // After loading, so that the request carries the component's claims; before any instance runs.
        await policy?.evaluateStartComponent(
          { componentId: id, imageRef: ref, annotations, claims: prepared.claims },
          count,
        );
        const started = runtime.createPool(prepared, {
          componentId: id,
          maxInstances: count,
          environment,
          logger,
          imports: this.#options.calls.importsOf(id),
        });
        // Stopping the host while the first instance starts ends that start at once.
        const abort = (): void => void started.close();
        signal.addEventListener('abort', abort, { once: true });
        try {
          await started.warm();
        } catch (err) {
          await started.close();
          throw err;
        } finally {
          signal.removeEventListener('abort', abort);
        }
        return observedPool(started, this.#options.metrics.component(id));
      },
      (started) => started.close(),
    );
    logger.info('component started', { component: id, ref, max_instances: count });
    const signed = pool.component.claims;
    if (signed !== undefined) {
      // For claims.get, as 1.x stores them; a lattice that refuses the record does not stop the component.
      await state
        .putClaims(storedComponentClaims(signed))
        .catch((err: unknown) =>
          logger.warn('claims not stored', { component: id, error: describeError(err) }),
        );
    }
    return pool;
  }

  async #start(
    id: string,
    ref: string,
    count: number,
    annotations: StringMap,
    config: string[],
  ): Promise<void> {
    const pool = await this.#launch(id, ref, count, config, annotations);
    const unserve = this.#serve(id, ref, pool);
    this.#running.set(id, { id, imageRef: ref, pool, maxInstances: count, annotations, config, unserve });
    await this.#options.state.ensureSpec(id, ref);
  }

  /** Starts the new version first and switches over only once it runs; the old one drains. */
  async #replace(
    running: LocalComponent,
    ref: string,
    count: number,
    annotations: StringMap,
    config: string[],
  ): Promise<void> {
    const pool = await this.#launch(running.id, ref, count, config, annotations);
    const unserve = this.#serve(running.id, ref, pool);
    running.unserve();
    this.#running.set(running.id, {
      id: running.id,
      imageRef: ref,
      pool,
      maxInstances: count,
      annotations,
      config,
      unserve,
    });
    await running.pool.close(this.#options.limits.httpDrainTimeoutMs);
  }

  #serve(id: string, ref: string, pool: ComponentPool): () => void {
    return this.#options.calls.serveExports(id, pool, ref);
  }

  async #stop(running: LocalComponent): Promise<void> {
    this.#running.delete(running.id);
    running.unserve();
    await running.pool.close(this.#options.limits.httpDrainTimeoutMs);
    this.#options.metrics.forgetComponent(running.id);
    this.#options.logger.info('component stopped', { component: running.id });
  }

  async update(command: UpdateComponentCommand): Promise<void> {
    const id = assertValidId('component_id', command.componentId);
    this.#starts.assertOpen();
    return this.#serial(id, async () => {
      const running = this.#running.get(id);
      const { events, hostId } = this.#options;
      if (running === undefined) {
        const err = new ComponentNotRunningError(`component ${id} is not running on this host`, {
          hint: 'scale it up first; update replaces a running component',
        });
        // It may have stopped after the control interface acknowledged the update: report it there too.
        events.publish('component_scale_failed', {
          annotations: command.annotations ?? {},
          component_id: id,
          host_id: hostId,
          image_ref: command.newComponentRef,
          max_instances: 0,
          error: describeError(err),
        });
        throw err;
      }
      if (running.imageRef === command.newComponentRef) return;
      const oldRef = running.imageRef;
      const annotations = command.annotations ?? running.annotations;
      try {
        await this.#replace(
          running,
          command.newComponentRef,
          running.maxInstances,
          annotations,
          running.config,
        );
      } catch (err) {
        events.publish('component_scale_failed', {
          annotations,
          component_id: id,
          host_id: hostId,
          image_ref: command.newComponentRef,
          max_instances: running.maxInstances,
          error: describeError(err),
        });
        throw err;
      }
      const base = { annotations, host_id: hostId, component_id: id };
      events.publish('component_scaled', {
        ...componentClaimsEventFields(this.#running.get(id)?.pool.component.claims),
        ...base,
        image_ref: command.newComponentRef,
        max_instances: running.maxInstances,
      });
      events.publish('component_scaled', { ...base, image_ref: oldRef, max_instances: 0 });
    });
  }

  isRunning(id: string): boolean {
    return this.#running.has(id);
  }

  describe(): ComponentDescription[] {
    return [...this.#running.values()].map((c) => ({
      id: c.id,
      image_ref: c.imageRef,
      annotations: c.annotations,
      revision: 0,
      max_instances: c.maxInstances,
      limits: null,
    }));
  }

  /**
   * Stops every component, including those still starting: their starts are aborted and whatever
   * they started is closed, so nothing runs once this resolves.
   */
  async stopAll(): Promise<void> {
    await this.#starts.close();
    while (this.#queues.size > 0) await Promise.all([...this.#queues.values()]);
    await Promise.all([...this.#running.values()].map((c) => this.#stop(c)));
  }
}
