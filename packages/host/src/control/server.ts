/**
 * The wasmCloud 1.x control interface of a host: subscribes to every control subject on the lattice
 * connection, hands each request to its handler and replies with the `{success, message, response?}`
 * envelope. Nothing a client sends can crash the host: every failure becomes a `success:false` reply
 * and every background failure a log line (its event is published by the host core).
 */
import {
  assertCtlTopicPrefix,
  controlSubjectTokens,
  controlSubscriptions,
  ctlPrefix,
  describeError,
  errorCode,
  failure,
  PayloadTooLargeError,
} from '@cirrus/protocol';
import type { ControlSubscription, CtlResponse, Logger } from '@cirrus/protocol';
import { encodeJson } from '@cirrus/lattice';
import type { LatticeConnection, Msg, SubscribeOptions, Subscription } from '@cirrus/lattice';
import { handleControlRequest } from './handlers.ts';
import type { ControlledHost, HandlerContext, Outcome } from './handlers.ts';

export type { ControlledHost } from './handlers.ts';

export interface ControlServerOptions {
  connection: LatticeConnection;
  host: ControlledHost;
  latticeName: string;
  /** `wasmbus.ctl` unless the host was configured otherwise. */
  topicPrefix: string;
  /** Highest instance count a scale request may ask for. */
  maxInstances: number;
  logger: Logger;
}

export interface ControlServer {
  /** `<topicPrefix>.v1.<lattice>`. */
  readonly prefix: string;
  readonly subscriptions: readonly ControlSubscription[];
  /** Unsubscribes; requests already received are still answered. */
  stop(): void;
}

/** Subscribes to every control subject and resolves once the subscriptions are live on the server. */
export async function startControlServer(options: ControlServerOptions): Promise<ControlServer> {
  const { connection, host } = options;
  const logger = options.logger.child({ component: 'control' });
  const prefix = ctlPrefix(options.latticeName, assertCtlTopicPrefix(options.topicPrefix));
  const ctx: HandlerContext = { host, maxInstances: options.maxInstances, logger };
  const wanted = controlSubscriptions(prefix, host.id);
  const subs: Subscription[] = [];

  const send = (msg: Msg, response: CtlResponse<unknown>): void => {
    try {
      msg.respond(encodeJson(response));
    } catch (err) {
      logger.warn('control reply not sent', { subject: msg.subject, error: describeError(err) });
      // A reply too big for the lattice (a huge link table, say) still owes the client an answer.
      if (err instanceof PayloadTooLargeError) {
        try {
          msg.respond(encodeJson(failure(describeError(err))));
        } catch {
          // The connection itself is failing; the log line above is all we can do.
        }
      }
    }
  };

  const runAfter = async (subject: string, after: NonNullable<Outcome['after']>): Promise<void> => {
    try {
      await after.run();
    } catch (err) {
      // The core has published the failure event; the log keeps the reason next to the request.
      logger.error(`could not ${after.what}`, { subject, error: describeError(err) });
    }
  };

  const serve = async (msg: Msg): Promise<void> => {
    try {
      const tokens = controlSubjectTokens(msg.subject, prefix) ?? [];
      let outcome: Outcome;
      try {
        outcome = await handleControlRequest(ctx, tokens, msg.data);
      } catch (err) {
        // Only the code is logged: messages can quote the request body (e.g. registry credentials).
        logger.debug('control request refused', {
          subject: msg.subject,
          code: errorCode(err),
        });
        outcome = { reply: failure(describeError(err)) };
      }
      if (outcome.reply !== undefined) send(msg, outcome.reply);
      if (outcome.after !== undefined) await runAfter(msg.subject, outcome.after);
    } catch (err) {
      logger.error('control request failed', { subject: msg.subject, error: describeError(err) });
    }
  };

  try {
    for (const { subject, queue } of wanted) {
      const subscribeOptions: SubscribeOptions = { callback: (msg) => void serve(msg) };
      if (queue !== undefined) subscribeOptions.queue = queue;
      subs.push(connection.subscribe(subject, subscribeOptions));
    }
    // Clients may send requests as soon as createHost resolves (host_started is their cue).
    await connection.flush();
  } catch (err) {
    for (const sub of subs) sub.unsubscribe();
    throw err;
  }
  logger.debug('control interface listening', { prefix });

  let stopped = false;
  return {
    prefix,
    subscriptions: wanted,
    stop() {
      if (stopped) return;
      stopped = true;
      for (const sub of subs) {
        try {
          sub.unsubscribe();
        } catch (err) {
          logger.warn('control subscription not closed', { subject: sub.subject, error: describeError(err) });
        }
      }
    },
  };
}
