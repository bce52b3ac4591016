/**
 * A client for the wasmCloud 1.x control interface (`<prefix>.v1.<lattice>.…`), speaking to any
 * compliant host — Cirrus or wasmCloud — over a lattice connection. It mirrors what
 * `wasmcloud-control-interface` and wash send, so the same requests work in mixed lattices.
 */
import { encodeJson, EMPTY } from '@cirrus/lattice';
import type { LatticeConnection, Msg } from '@cirrus/lattice';
import {
  assertCtlTopicPrefix,
  assertValidId,
  ComponentScaleFailedError,
  ControlRequestFailedError,
  ctlPrefix,
  CTL_TOPIC_PREFIX,
  DEFAULT_LATTICE,
  DEFAULT_LIMITS,
  ERROR_CODES,
  errorFromJSON,
  InvalidArgumentError,
  NoRespondersError,
  parseHostMetrics,
} from '@cirrus/protocol';
import type {
  CirrusError,
  CloudEvent,
  ComponentAuctionAck,
  ComponentAuctionRequest,
  DeleteLinkRequest,
  EventName,
  HostInfo,
  HostInventory,
  HostMetrics,
  LabelRequest,
  Link,
  ProviderAuctionAck,
  ProviderAuctionRequest,
  ScaleComponentRequest,
  StartProviderRequest,
  StopHostRequest,
  StopProviderRequest,
  StringMap,
  UpdateComponentRequest,
} from '@cirrus/protocol';
import { openEventStream, waitForEvent } from './events.ts';
import type { EventStream, EventStreamOptions, WaitForEventOptions } from './events.ts';
import { expectSuccess, explainUnanswered, missingResponse, parseReply } from './replies.ts';
import type { Addressee } from './replies.ts';

export interface ControlClientOptions {
  connection: LatticeConnection;
  /** Lattice name (default `default`). */
  lattice?: string;
  /** Control topic prefix (default `wasmbus.ctl`, the host's `--ctl-topic-prefix`). */
  topicPrefix?: string;
  /** Deadline of single-reply requests (default: limit `controlRequestTimeoutMs`, 2 s like wash). */
  timeoutMs?: number;
  /** How long `host.ping` and auctions collect replies (default: limit `controlScatterWindowMs`). */
  scatterMs?: number;
  /** How long `scaleComponent(…, { wait: true })` waits for its event (limit `controlWaitTimeoutMs`). */
  waitTimeoutMs?: number;
}

/** A host's acknowledgement; `message` is often empty and sometimes a warning worth showing. */
export interface ControlAck {
  message: string;
}

export interface ScaleComponentParams {
  hostId: string;
  componentRef: string;
  componentId: string;
  /** Instances to run; 0 stops the component. */
  count: number;
  /** Named config, in order (later names override earlier ones). */
  config?: string[];
  annotations?: StringMap;
  /** Replace the running image when `componentRef` differs from it. */
  allowUpdate?: boolean;
}

export interface ScaleOptions {
  /**
   * Subscribe to the host's events before sending, then resolve only once the host reports
   * `component_scaled`, or throw COMPONENT_SCALE_FAILED on `component_scale_failed`.
   */
  wait?: boolean;
  /** Deadline of the wait (default: the client's `waitTimeoutMs`). */
  waitTimeoutMs?: number;
}

export interface ScaleResult extends ControlAck {
  /** The `component_scaled` event, present when the scale was sent with `wait: true`. */
  event?: CloudEvent;
}

export interface UpdateComponentParams {
  hostId: string;
  componentId: string;
  newComponentRef: string;
  annotations?: StringMap;
}

export interface StartProviderParams {
  hostId: string;
  providerRef: string;
  providerId: string;
  config?: string[];
  annotations?: StringMap;
}

export interface StopProviderParams {
  hostId: string;
  providerId: string;
}

export interface ComponentAuctionParams {
  componentRef: string;
  componentId: string;
  /** Labels a host must have (all of them, with equal values) to bid. */
  constraints?: StringMap;
}

export interface ProviderAuctionParams {
  providerRef: string;
  providerId: string;
  constraints?: StringMap;
}

export interface ControlClient {
  readonly lattice: string;
  /**
   * Every host that answers `host.ping` within the scatter window; none is not an error. With
   * `expect`, the answer comes as soon as each of those hosts has answered: a caller that knows the
   * lattice waits the window out only when a host is missing.
   */
  pingHosts(options?: { expect?: Iterable<string> }): Promise<HostInfo[]>;
  getInventory(hostId: string): Promise<HostInventory>;
  /**
   * What a Cirrus host has counted (`host.metrics`, a Cirrus addition): invocations, durations, pools,
   * lattice traffic and process figures. A wasmCloud host does not answer it.
   */
  getHostMetrics(hostId: string): Promise<HostMetrics>;
  getLinks(): Promise<Link[]>;
  putLink(link: Link): Promise<ControlAck>;
  deleteLink(link: DeleteLinkRequest): Promise<ControlAck>;
  /** The named config, or undefined when the lattice has none by that name. */
  getConfig(name: string): Promise<StringMap | undefined>;
  putConfig(name: string, values: StringMap): Promise<ControlAck>;
  deleteConfig(name: string): Promise<ControlAck>;
  /** Claims of every signed component and provider the lattice has seen, as flat string maps. */
  getClaims(): Promise<StringMap[]>;
  scaleComponent(params: ScaleComponentParams, options?: ScaleOptions): Promise<ScaleResult>;
  updateComponent(params: UpdateComponentParams): Promise<ControlAck>;
  /**
   * With `wait: true`, resolves on the host's `provider_started`, or throws the error its
   * `provider_start_failed` names (the acknowledgement comes before the provider has started).
   */
  startProvider(params: StartProviderParams, options?: ScaleOptions): Promise<ScaleResult>;
  stopProvider(params: StopProviderParams): Promise<ControlAck>;
  /** Asks a host to stop; `timeoutMs` is how long the host may take to stop its workloads. */
  stopHost(hostId: string, timeoutMs?: number): Promise<ControlAck>;
  putLabel(hostId: string, key: string, value: string): Promise<ControlAck>;
  deleteLabel(hostId: string, key: string): Promise<ControlAck>;
  /** Hosts willing to run the component (scatter/gather; hosts that do not qualify stay silent). */
  componentAuction(params: ComponentAuctionParams): Promise<ComponentAuctionAck[]>;
  providerAuction(params: ProviderAuctionParams): Promise<ProviderAuctionAck[]>;
  /** Lattice events until `stop()`; subscribed when this returns. */
  events(options?: EventStreamOptions): EventStream;
  /**
   * The first event satisfying `predicate`, or REQUEST_TIMEOUT. Subscribes before returning, so call
   * it before sending the request whose outcome it reports.
   */
  waitForEvent(
    predicate: (event: CloudEvent) => boolean,
    timeoutMs: number,
    options?: WaitForEventOptions,
  ): Promise<CloudEvent>;
}

function positiveMs(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new InvalidArgumentError(`${name} must be a positive whole number of milliseconds, got ${value}`);
  }
  return value;
}

/** Leaves optional fields out instead of sending `null`/`undefined`, as serde's defaults expect. */
function withOptional<T extends object>(body: T, extra: Record<string, unknown>): T {
  const out: Record<string, unknown> = { ...(body as Record<string, unknown>) };
  for (const [key, value] of Object.entries(extra)) if (value !== undefined) out[key] = value;
  return out as T;
}

const SCALE_OUTCOMES: readonly EventName[] = ['component_scaled', 'component_scale_failed'];
const PROVIDER_START_OUTCOMES: readonly EventName[] = ['provider_started', 'provider_start_failed'];

/** The typed error a host's `CODE: message` text names; other text is CONTROL_REQUEST_FAILED. */
function errorFromText(text: string, hint: string): CirrusError {
  const match = /^([A-Z][A-Z0-9_]+): ([\s\S]*)$/.exec(text);
  if (match !== null && ERROR_CODES.includes(match[1] as string)) {
    return errorFromJSON({ code: match[1] as string, message: match[2] as string, hint });
  }
  return new ControlRequestFailedError(text, { hint });
}

class ControlClientImpl implements ControlClient {
  readonly lattice: string;
  readonly #conn: LatticeConnection;
  readonly #prefix: string;
  readonly #timeoutMs: number;
  readonly #scatterMs: number;
  readonly #waitTimeoutMs: number;

  constructor(options: ControlClientOptions) {
    this.#conn = options.connection;
    this.lattice = assertValidId('lattice name', options.lattice ?? DEFAULT_LATTICE);
    this.#prefix = ctlPrefix(this.lattice, assertCtlTopicPrefix(options.topicPrefix ?? CTL_TOPIC_PREFIX));
    this.#timeoutMs = positiveMs('timeoutMs', options.timeoutMs, DEFAULT_LIMITS.controlRequestTimeoutMs);
    this.#scatterMs = positiveMs('scatterMs', options.scatterMs, DEFAULT_LIMITS.controlScatterWindowMs);
    this.#waitTimeoutMs = positiveMs(
      'waitTimeoutMs',
      options.waitTimeoutMs,
      DEFAULT_LIMITS.controlWaitTimeoutMs,
    );
  }

  #to(operation: string, suffix: string, hostId?: string): Addressee {
    return { subject: `${this.#prefix}.${suffix}`, lattice: this.lattice, hostId, operation };
  }

  /** `<noun>.<verb>.<host>` — the host id is the last token, as in 1.x. */
  #toHost(operation: string, nounVerb: string, hostId: string): Addressee {
    assertValidId('host id', hostId);
    return this.#to(operation, `${nounVerb}.${hostId}`, hostId);
  }

  async #request<T>(to: Addressee, body?: unknown): Promise<{ message: string; response: T | undefined }> {
    let msg: Msg;
    try {
      msg = await this.#conn.request(to.subject, body === undefined ? EMPTY : encodeJson(body), {
        timeoutMs: this.#timeoutMs,
      });
    } catch (err) {
      throw explainUnanswered(err, to, this.#timeoutMs);
    }
    const reply = expectSuccess<T>(msg, to);
    return { message: reply.message, response: reply.response };
  }

  async #ack(to: Addressee, body?: unknown): Promise<ControlAck> {
    const { message } = await this.#request<unknown>(to, body);
    return { message };
  }

  /**
   * Scatter/gather: every successful reply within the window; silence and refusals are skipped.
   * `last` ends the gathering early when it says a reply was the last one awaited.
   */
  async #gather<T>(to: Addressee, body?: unknown, last?: (reply: T) => boolean): Promise<T[]> {
    const out: T[] = [];
    try {
      const replies = this.#conn.requestMany(to.subject, body === undefined ? EMPTY : encodeJson(body), {
        maxWaitMs: this.#scatterMs,
      });
      for await (const msg of replies) {
        // An empty message is the NATS "end of replies" sentinel; the Rust client stops there too.
        if (msg.data.byteLength === 0) break;
        const reply = parseReply<T>(msg);
        // Unlike the Rust client, one unparsable reply does not hide the hosts that answer after it.
        if (reply?.success === true && reply.response !== undefined) {
          out.push(reply.response);
          if (last?.(reply.response) === true) break;
        }
      }
    } catch (err) {
      // Nobody listening is an answer for a scatter: there are no hosts.
      if ((err as { code?: unknown }).code === NoRespondersError.CODE) return out;
      throw explainUnanswered(err, to, this.#scatterMs);
    }
    return out;
  }

  pingHosts(options?: { expect?: Iterable<string> }): Promise<HostInfo[]> {
    const awaited = new Set(options?.expect);
    return this.#gather<HostInfo>(
      this.#to('ping hosts', 'host.ping'),
      undefined,
      awaited.size === 0 ? undefined : (host) => awaited.delete(host.id) && awaited.size === 0,
    );
  }

  async getHostMetrics(hostId: string): Promise<HostMetrics> {
    const to = this.#toHost('get host metrics', 'host.metrics', hostId);
    const { response } = await this.#request<unknown>(to);
    if (response === undefined) throw missingResponse(to);
    return parseHostMetrics(response);
  }

  async getInventory(hostId: string): Promise<HostInventory> {
    const to = this.#toHost('get inventory', 'host.get', hostId);
    const { response } = await this.#request<HostInventory>(to);
    if (response === undefined) throw missingResponse(to);
    return response;
  }

  async getLinks(): Promise<Link[]> {
    const { response } = await this.#request<Link[]>(this.#to('get links', 'link.get'));
    return response ?? [];
  }

  putLink(link: Link): Promise<ControlAck> {
    return this.#ack(this.#to('put link', 'link.put'), link);
  }

  deleteLink(link: DeleteLinkRequest): Promise<ControlAck> {
    const body = withOptional<DeleteLinkRequest>(
      { source_id: link.source_id, wit_namespace: link.wit_namespace, wit_package: link.wit_package },
      { name: link.name },
    );
    return this.#ack(this.#to('delete link', 'link.del'), body);
  }

  async getConfig(name: string): Promise<StringMap | undefined> {
    const to = this.#to('get config', `config.get.${assertValidId('config name', name)}`);
    // A missing config is `{"success":true,"message":"Configuration not found"}`: no response.
    const { response } = await this.#request<StringMap>(to);
    return response;
  }

  putConfig(name: string, values: StringMap): Promise<ControlAck> {
    return this.#ack(this.#to('put config', `config.put.${assertValidId('config name', name)}`), values);
  }

  deleteConfig(name: string): Promise<ControlAck> {
    return this.#ack(this.#to('delete config', `config.del.${assertValidId('config name', name)}`));
  }

  async getClaims(): Promise<StringMap[]> {
    const { response } = await this.#request<StringMap[]>(this.#to('get claims', 'claims.get'));
    return response ?? [];
  }

  async scaleComponent(params: ScaleComponentParams, options: ScaleOptions = {}): Promise<ScaleResult> {
    const to = this.#toHost('scale component', 'component.scale', params.hostId);
    const body = withOptional<ScaleComponentRequest>(
      {
        component_ref: params.componentRef,
        component_id: params.componentId,
        host_id: params.hostId,
        // The wire name is `count`; a Rust host ignores `max_instances` and would read 0 (stop).
        count: params.count,
      },
      { annotations: params.annotations, config: params.config, allow_update: params.allowUpdate },
    );
    if (options.wait !== true) return this.#ack(to, body);
    // Like wash: the outcome is the next scale event of this component from this host. The image
    // reference is not compared, because a host that keeps a different running image reports that one.
    const { ack, event } = await this.#ackThenOutcome(
      to,
      body,
      { hostId: params.hostId, field: 'component_id', id: params.componentId },
      SCALE_OUTCOMES,
      options,
    );
    if (event.type.endsWith('.component_scale_failed')) {
      const error = typeof event.data.error === 'string' ? event.data.error : 'no reason given';
      throw new ComponentScaleFailedError(error, {
        hint: 'the host accepted the request but could not run the component; fix what it names and scale again',
        details: {
          host_id: params.hostId,
          component_id: params.componentId,
          image_ref: event.data.image_ref ?? params.componentRef,
        },
      });
    }
    return { message: ack.message, event };
  }

  updateComponent(params: UpdateComponentParams): Promise<ControlAck> {
    const body = withOptional<UpdateComponentRequest>(
      {
        component_id: params.componentId,
        new_component_ref: params.newComponentRef,
        host_id: params.hostId,
      },
      { annotations: params.annotations },
    );
    return this.#ack(this.#toHost('update component', 'component.update', params.hostId), body);
  }

  async startProvider(params: StartProviderParams, options: ScaleOptions = {}): Promise<ScaleResult> {
    const to = this.#toHost('start provider', 'provider.start', params.hostId);
    const body = withOptional<StartProviderRequest>(
      { provider_id: params.providerId, provider_ref: params.providerRef, host_id: params.hostId },
      { config: params.config, annotations: params.annotations },
    );
    if (options.wait !== true) return this.#ack(to, body);
    const { ack, event } = await this.#ackThenOutcome(
      to,
      body,
      { hostId: params.hostId, field: 'provider_id', id: params.providerId },
      PROVIDER_START_OUTCOMES,
      options,
    );
    if (event.type.endsWith('.provider_start_failed')) {
      throw errorFromText(
        typeof event.data.error === 'string' ? event.data.error : 'no reason given',
        'the host accepted the request but could not start the provider; fix what it names and start it again',
      );
    }
    return { message: ack.message, event };
  }

  /**
   * Sends a request the host acknowledges before doing it, and waits for the next event of `types`
   * that this host reports about this workload: subscribed first, so that a fast host's event is not
   * missed.
   */
  async #ackThenOutcome(
    to: Addressee,
    body: unknown,
    about: { hostId: string; field: 'component_id' | 'provider_id'; id: string },
    types: readonly EventName[],
    options: ScaleOptions,
  ): Promise<{ ack: ControlAck; event: CloudEvent }> {
    const waitMs = positiveMs('waitTimeoutMs', options.waitTimeoutMs, this.#waitTimeoutMs);
    const cancel = new AbortController();
    const outcome = this.waitForEvent(
      (event) =>
        (event.source === about.hostId || event.data.host_id === about.hostId) &&
        event.data[about.field] === about.id,
      waitMs,
      { types, signal: cancel.signal },
    );
    // Settled below; this keeps a rejection that nobody awaits yet (ack failed first) from escaping.
    outcome.catch(() => undefined);
    let ack: ControlAck;
    try {
      // The subscription must reach the server before the request, or a fast host's event is lost.
      await this.#conn.flush();
      ack = await this.#ack(to, body);
    } catch (err) {
      cancel.abort(err);
      throw err;
    }
    return { ack, event: await outcome };
  }

  stopProvider(params: StopProviderParams): Promise<ControlAck> {
    const body: StopProviderRequest = { provider_id: params.providerId, host_id: params.hostId };
    return this.#ack(this.#toHost('stop provider', 'provider.stop', params.hostId), body);
  }

  stopHost(hostId: string, timeoutMs?: number): Promise<ControlAck> {
    const to = this.#toHost('stop host', 'host.stop', hostId);
    const body = withOptional<StopHostRequest>(
      { host_id: hostId },
      { timeout: timeoutMs === undefined ? undefined : positiveMs('timeoutMs', timeoutMs, 0) },
    );
    return this.#ack(to, body);
  }

  putLabel(hostId: string, key: string, value: string): Promise<ControlAck> {
    const body: LabelRequest = { key, value };
    return this.#ack(this.#toHost('put label', 'label.put', hostId), body);
  }

  deleteLabel(hostId: string, key: string): Promise<ControlAck> {
    const body: LabelRequest = { key };
    return this.#ack(this.#toHost('delete label', 'label.del', hostId), body);
  }

  componentAuction(params: ComponentAuctionParams): Promise<ComponentAuctionAck[]> {
    const body: ComponentAuctionRequest = {
      component_ref: params.componentRef,
      component_id: params.componentId,
      constraints: params.constraints ?? {},
    };
    return this.#gather<ComponentAuctionAck>(this.#to('component auction', 'component.auction'), body);
  }

  providerAuction(params: ProviderAuctionParams): Promise<ProviderAuctionAck[]> {
    const body: ProviderAuctionRequest = {
      provider_ref: params.providerRef,
      provider_id: params.providerId,
      constraints: params.constraints ?? {},
    };
    return this.#gather<ProviderAuctionAck>(this.#to('provider auction', 'provider.auction'), body);
  }

  events(options: EventStreamOptions = {}): EventStream {
    return openEventStream(this.#conn, this.lattice, options);
  }

  waitForEvent(
    predicate: (event: CloudEvent) => boolean,
    timeoutMs: number,
    options: WaitForEventOptions = {},
  ): Promise<CloudEvent> {
    return waitForEvent(this.#conn, this.lattice, predicate, positiveMs('timeoutMs', timeoutMs, 0), options);
  }
}

/** Creates a control client on an open lattice connection; closing the connection is the caller's job. */
export function createControlClient(options: ControlClientOptions): ControlClient {
  return new ControlClientImpl(options);
}
