/**
 * The built-in messaging provider: `wasmcloud:messaging` 0.2.0 over the host's lattice connection
 * (the embedded lattice, or NATS).
 *
 * - As a link target it serves `consumer` (publish and request) to the components linked to it.
 * - As a link source (provider → component over `handler`) it subscribes to the subjects in the
 *   link's `subscriptions` config and hands every message to the component through a
 *   `MessageDelivery` the host supplies.
 *
 * wasmCloud's NATS provider talks to a NATS of its own, so its components cannot reach the lattice.
 * Here the connection is the lattice's, so the subjects the lattice itself runs on are refused:
 * otherwise a component could send control commands, rewrite links and config in JetStream, answer
 * other parties' requests, or impersonate a component over wRPC. The same connection serves every
 * link, so that provider's keys for a connection of the link's own are not honoured (and said so).
 */
import {
  describeError,
  ImportFailedError,
  InvalidArgumentError,
  MessagingSubjectDeniedError,
  parseWit,
} from '@cirrus/protocol';
import type { Logger, StringMap } from '@cirrus/protocol';
import type { LatticeConnection, Msg, Subscription } from '@cirrus/lattice';
import type {
  BuiltinProvider,
  CapabilityProvider,
  ExportHandlers,
  ImportSource,
  ProviderContext,
  ResolvedLink,
} from '@cirrus/provider-core';

const CONSUMER = 'wasmcloud:messaging/consumer';
/** The consumer as components on other hosts reach it over wRPC (its own name and shapes). */
const CONSUMER_WIT = `
package wasmcloud:messaging@0.2.0;
interface consumer {
  record broker-message { subject: string, body: list<u8>, reply-to: option<string> }
  request: func(subject: string, body: list<u8>, timeout-ms: u32) -> result<broker-message, string>;
  publish: func(msg: broker-message) -> result<_, string>;
}
`;

/** `broker-message` of wasmcloud:messaging 0.2.0, as jco represents the record. */
export interface BrokerMessage {
  subject: string;
  body: Uint8Array;
  replyTo: string | undefined;
}

/** How the provider reaches a component's `wasmcloud:messaging/handler` export. */
export interface MessageDelivery {
  /** Calls `handle-message` of `componentId`; rejects when the call or the handler fails. */
  deliver(componentId: string, message: BrokerMessage): Promise<void>;
}

export interface MessagingProviderOptions {
  /**
   * Picks the delivery for a started provider (the built-in calls the component's handler export on
   * this host). Without one, handler links are checked but nothing is subscribed.
   */
  delivery?: (context: ProviderContext) => MessageDelivery | undefined;
}

const HANDLER_INTERFACE = 'wasmcloud:messaging/handler';
/** How a handler on another host is invoked: as 1.x serves it, `wasmcloud:messaging/handler@0.2.0`. */
const REMOTE_HANDLER = {
  instance: 'wasmcloud:messaging/handler@0.2.0',
  fn: (() => {
    const handler = parseWit(`
      package wasmcloud:messaging@0.2.0;
      interface handler {
        record broker-message { subject: string, body: list<u8>, reply-to: option<string> }
        handle-message: func(msg: broker-message) -> result<_, string>;
      }
    `).interfaces[0]?.functions.get('handle-message');
    if (handler === undefined) throw new Error('the built-in handler WIT has no handle-message');
    return handler;
  })(),
};

/** Link config keys (wasmCloud's NATS provider uses the same `subscriptions`). */
export const SUBSCRIPTIONS_KEY = 'subscriptions';
export const QUEUE_GROUP_KEY = 'queue_group';

/** wasmCloud's messaging-nats keys for the NATS connection it opens per link. */
const CONNECTION_KEYS: ReadonlySet<string> = new Set([
  'cluster_uris',
  'client_jwt',
  'client_seed',
  'tls_ca',
  'tls_ca_file',
  'custom_inbox_prefix',
  'ping_interval_sec',
]);
/** messaging-nats's JetStream consumers, which it refuses itself. */
const CONSUMERS_KEY = 'consumers';

/** One subscription a handler link asks for. */
export interface SubscriptionSpec {
  subject: string;
  queue: string | undefined;
}

const INBOX_PREFIX = '_INBOX.';

function tokens(subject: string): string[] {
  return subject.split('.');
}

/** Whether some subject matches both NATS patterns (`*` one token, `>` one or more at the end). */
function overlaps(a: readonly string[], b: readonly string[]): boolean {
  for (let i = 0; ; i++) {
    const x = a[i];
    const y = b[i];
    if (x === undefined || y === undefined) return x === y;
    if (x === '>' || y === '>') return true;
    if (x !== '*' && y !== '*' && x !== y) return false;
  }
}

/**
 * The lattice's own subjects: control, events and host RPC (`wasmbus.>`), replies to requests in
 * flight (`_INBOX.>`), and wRPC invocations (`<lattice>.<id>.wrpc.>`). Any first token starting
 * with `$` is refused as well: JetStream (`$JS`), its key-value and object stores (`$KV`, `$O`,
 * which hold the lattice's links and config) and the system account (`$SYS`).
 */
function reservedPatterns(lattice: string): string[][] {
  return [tokens('wasmbus.>'), tokens('_INBOX.>'), tokens(`${lattice}.*.wrpc.>`)];
}

/** Why `subject` (a subject or a subscription pattern) is refused, or undefined when it is not. */
export function reservedBy(lattice: string, subject: string): string | undefined {
  const parts = tokens(subject);
  const hit = reservedPatterns(lattice).find((pattern) => overlaps(parts, pattern));
  if (hit !== undefined) return hit.join('.');
  // A leading wildcard would match `$…` subjects too.
  const first = parts[0] ?? '';
  return first.startsWith('$') || first === '*' || first === '>' ? '$…' : undefined;
}

function denied(
  lattice: string,
  subject: string,
  use: string,
  reserved: string,
): MessagingSubjectDeniedError {
  return new MessagingSubjectDeniedError(
    `${use} ${JSON.stringify(subject)} is refused: it would touch the lattice's own traffic (${reserved})`,
    {
      hint: `use subjects outside wasmbus.>, _INBOX.>, $… and ${lattice}.*.wrpc.>, e.g. "app.orders.created"`,
    },
  );
}

/** Case-insensitive: the NATS provider's README writes `SUBSCRIPTIONS`, its code reads `subscriptions`. */
function configValue(config: StringMap, key: string): string | undefined {
  const found = Object.keys(config).find((k) => k.toLowerCase() === key);
  return found === undefined ? undefined : config[found];
}

const QUEUE = /^[^\s]+$/;

/**
 * The subscriptions of a handler link: `subscriptions` = comma-separated subjects, each optionally
 * `subject|queue` as with wasmCloud's NATS provider; `queue_group` is the queue of the others.
 * Throws MESSAGING_SUBJECT_DENIED or INVALID_ARGUMENT before anything is subscribed.
 */
export function parseSubscriptions(lattice: string, config: StringMap): SubscriptionSpec[] {
  const listed = configValue(config, SUBSCRIPTIONS_KEY) ?? '';
  const defaultQueue = configValue(config, QUEUE_GROUP_KEY)?.trim() || undefined;
  const specs: SubscriptionSpec[] = [];
  for (const entry of listed.split(',')) {
    const [rawSubject = '', rawQueue] = entry.split('|', 2);
    const subject = rawSubject.trim();
    if (subject === '') continue;
    const queue = rawQueue === undefined ? defaultQueue : rawQueue.trim();
    if (queue !== undefined && !QUEUE.test(queue)) {
      throw new InvalidArgumentError(`queue group ${JSON.stringify(queue)} of ${subject} is not valid`, {
        hint: 'a queue group is a non-empty name without whitespace',
      });
    }
    const reserved = reservedBy(lattice, subject);
    if (reserved !== undefined) throw denied(lattice, subject, 'subscription', reserved);
    specs.push({ subject, queue });
  }
  return specs;
}

type Result<T> = { tag: 'ok'; val: T } | { tag: 'err'; val: string };

/** The interface's error is a string: ours carries the code first, `CODE: message (hint)`. */
async function guarded<T>(work: () => Promise<T>): Promise<Result<T>> {
  try {
    return { tag: 'ok', val: await work() };
  } catch (err) {
    return { tag: 'err', val: describeError(err) };
  }
}

/** A handler link's live subscriptions. */
interface HandlerLink {
  componentId: string;
  linkName: string;
  subscriptions: Subscription[];
  /** Set after a delivery failed and was logged at warn; cleared by the next success. */
  failing: boolean;
}

class MessagingProvider implements CapabilityProvider {
  readonly #lattice: string;
  readonly #connection: LatticeConnection;
  readonly #logger: Logger;
  readonly #requestTimeoutMs: number;
  readonly #maxRequestTimeoutMs: number;
  readonly #delivery: MessageDelivery | undefined;
  /** Handler links by `component|link name`. */
  readonly #handlers = new Map<string, HandlerLink>();
  /**
   * `_INBOX.` reply subjects of messages being delivered, per component, with how many deliveries
   * hold each: a handler may answer the request it is handling, and only while it handles it.
   */
  readonly #replies = new Map<string, Map<string, number>>();

  constructor(context: ProviderContext, delivery: MessageDelivery | undefined) {
    this.#lattice = context.lattice;
    this.#connection = context.connection;
    this.#logger = context.logger;
    this.#requestTimeoutMs = context.limits.latticeRequestTimeoutMs;
    // Waiting longer than the caller's own deadline would only hold its instance after it failed.
    this.#maxRequestTimeoutMs = context.limits.invocationTimeoutMs;
    this.#delivery = delivery;
  }

  // --- consumer: publish and request for linked components -------------------------------------

  readonly wit = CONSUMER_WIT;

  readonly exports: ExportHandlers<ImportSource> = {
    [CONSUMER]: {
      publish: (source: ImportSource, message: unknown) =>
        guarded(async () => this.#publish(source.sourceId, message)),
      request: (source: ImportSource, subject: unknown, body: unknown, timeoutMs: unknown) =>
        guarded(() => this.#request(source.sourceId, subject, body, timeoutMs)),
    },
  };

  #publish(componentId: string, value: unknown): void {
    const message = value as Partial<BrokerMessage> | null;
    const subject = this.#checked(componentId, message?.subject, 'publish subject');
    const replyTo =
      message?.replyTo === undefined ? undefined : this.#checked(componentId, message.replyTo, 'reply-to');
    const body = message?.body instanceof Uint8Array ? message.body : new Uint8Array(0);
    this.#connection.publish(subject, body, replyTo === undefined ? {} : { reply: replyTo });
  }

  async #request(
    componentId: string,
    subject: unknown,
    body: unknown,
    timeoutMs: unknown,
  ): Promise<BrokerMessage> {
    const checked = this.#checked(componentId, subject, 'request subject');
    const asked = typeof timeoutMs === 'number' && Number.isFinite(timeoutMs) ? timeoutMs : 0;
    // 0 has no useful meaning for a request (it could never be answered): it takes the default.
    const timeout = asked > 0 ? Math.min(asked, this.#maxRequestTimeoutMs) : this.#requestTimeoutMs;
    const reply = await this.#connection.request(
      checked,
      body instanceof Uint8Array ? body : new Uint8Array(0),
      { timeoutMs: timeout },
    );
    // A copy: the reply may be a view into a larger read buffer, which would be cloned whole.
    return { subject: reply.subject, body: reply.data.slice(), replyTo: reply.reply };
  }

  /** `subject` if the component may use it; throws MESSAGING_SUBJECT_DENIED otherwise. */
  #checked(componentId: string, subject: unknown, use: string): string {
    if (typeof subject !== 'string') {
      throw new InvalidArgumentError(`${use} must be a string`);
    }
    if (subject.startsWith(INBOX_PREFIX) && this.#replies.get(componentId)?.has(subject) === true) {
      return subject;
    }
    const reserved = reservedBy(this.#lattice, subject);
    if (reserved !== undefined) throw denied(this.#lattice, subject, use, reserved);
    return subject;
  }

  async receiveLinkAsTarget(link: ResolvedLink): Promise<void> {
    this.#checkConnectionConfig(link.source_id, link.name, link.target_config);
  }

  /**
   * Refuses JetStream consumers, whose messages nothing here would deliver, and warns about the keys
   * of a NATS connection of the link's own, which the lattice's connection takes the place of.
   */
  #checkConnectionConfig(componentId: string, linkName: string, config: StringMap): void {
    if (configValue(config, CONSUMERS_KEY) !== undefined) {
      throw new InvalidArgumentError(
        'messaging link config consumers (JetStream consumers) is not supported',
        {
          hint: 'list the subjects in subscriptions instead',
        },
      );
    }
    const ignored = Object.keys(config).filter((key) => CONNECTION_KEYS.has(key.toLowerCase()));
    if (ignored.length === 0) return;
    this.#logger.warn("messaging link config not honoured: every link uses the lattice's connection", {
      component: componentId,
      link_name: linkName,
      ignored: ignored.join(', '),
    });
  }

  // --- handler: subscriptions for the components this provider links to -----------------------

  async receiveLinkAsSource(link: ResolvedLink): Promise<void> {
    if (!isHandlerLink(link)) return;
    this.#checkConnectionConfig(link.target, link.name, link.source_config);
    const specs = parseSubscriptions(this.#lattice, link.source_config);
    const key = `${link.target}|${link.name}`;
    this.#unsubscribe(key);
    if (specs.length === 0) return;
    const delivery = this.#delivery;
    if (delivery === undefined) {
      // Subscribing without a way to deliver would swallow messages (in a queue group, other
      // hosts' share too), so the link is accepted and nothing is subscribed.
      this.#logger.warn('messaging handler link not served: this host cannot call handle-message yet', {
        component: link.target,
        link_name: link.name,
        subscriptions: specs.map((s) => s.subject).join(','),
      });
      return;
    }
    const handler: HandlerLink = {
      componentId: link.target,
      linkName: link.name,
      subscriptions: [],
      failing: false,
    };
    try {
      for (const spec of specs) {
        handler.subscriptions.push(
          this.#connection.subscribe(spec.subject, {
            ...(spec.queue === undefined ? {} : { queue: spec.queue }),
            callback: (msg) => this.#dispatch(handler, delivery, msg),
          }),
        );
      }
    } catch (err) {
      for (const sub of handler.subscriptions) sub.unsubscribe();
      throw err;
    }
    this.#handlers.set(key, handler);
    // Resolve once the server knows the subscriptions, so a publish right after the link arrives.
    await this.#connection.flush();
    this.#logger.debug('messaging handler link subscribed', {
      component: link.target,
      link_name: link.name,
      subscriptions: specs
        .map((s) => (s.queue === undefined ? s.subject : `${s.subject}|${s.queue}`))
        .join(','),
    });
  }

  async deleteLinkAsSource(link: ResolvedLink): Promise<void> {
    if (isHandlerLink(link)) this.#unsubscribe(`${link.target}|${link.name}`);
  }

  #unsubscribe(key: string): void {
    const handler = this.#handlers.get(key);
    if (handler === undefined) return;
    this.#handlers.delete(key);
    for (const sub of handler.subscriptions) sub.unsubscribe();
  }

  #dispatch(handler: HandlerLink, delivery: MessageDelivery, msg: Msg): void {
    const { componentId } = handler;
    const message: BrokerMessage = { subject: msg.subject, body: msg.data.slice(), replyTo: msg.reply };
    const reply = msg.reply?.startsWith(INBOX_PREFIX) === true ? msg.reply : undefined;
    if (reply !== undefined) this.#grant(componentId, reply);
    // Wrapped so that a delivery throwing before its promise exists is handled like a rejection.
    const delivering = (async () => delivery.deliver(componentId, message))();
    void delivering
      .then(
        () => {
          handler.failing = false;
        },
        (err: unknown) => {
          // One warning per run of failures: a broken handler on a busy subject must not flood the log.
          const level = handler.failing ? 'debug' : 'warn';
          handler.failing = true;
          this.#logger[level]('message delivery failed', {
            component: componentId,
            link_name: handler.linkName,
            subject: msg.subject,
            error: describeError(err),
          });
        },
      )
      .finally(() => {
        if (reply !== undefined) this.#revoke(componentId, reply);
      });
  }

  #grant(componentId: string, subject: string): void {
    let held = this.#replies.get(componentId);
    if (held === undefined) {
      held = new Map();
      this.#replies.set(componentId, held);
    }
    held.set(subject, (held.get(subject) ?? 0) + 1);
  }

  #revoke(componentId: string, subject: string): void {
    const held = this.#replies.get(componentId);
    const count = held?.get(subject);
    if (held === undefined || count === undefined) return;
    if (count > 1) held.set(subject, count - 1);
    else held.delete(subject);
    if (held.size === 0) this.#replies.delete(componentId);
  }

  async shutdown(): Promise<void> {
    for (const key of [...this.#handlers.keys()]) this.#unsubscribe(key);
  }
}

function isHandlerLink(link: ResolvedLink): boolean {
  return (
    link.wit_namespace === 'wasmcloud' &&
    link.wit_package === 'messaging' &&
    link.interfaces.includes('handler')
  );
}

/** A messaging provider with its own way of delivering to handlers (tests, and the host later). */
export function createMessagingProvider(options: MessagingProviderOptions = {}): BuiltinProvider {
  return {
    name: 'Messaging',
    async start(context) {
      return new MessagingProvider(context, options.delivery?.(context));
    },
  };
}

/** Delivers to the component's `wasmcloud:messaging/handler` export on this host. */
function exportDelivery(context: ProviderContext): MessageDelivery {
  return {
    async deliver(componentId, message) {
      const result = await context.components.invoke(
        componentId,
        HANDLER_INTERFACE,
        'handle-message',
        [message],
        REMOTE_HANDLER,
      );
      if (result !== null && typeof result === 'object' && (result as { tag?: unknown }).tag === 'err') {
        throw new ImportFailedError(
          `${componentId} refused the message: ${String((result as { val?: unknown }).val)}`,
        );
      }
    },
  };
}

export const messagingProvider: BuiltinProvider = createMessagingProvider({ delivery: exportDelivery });
