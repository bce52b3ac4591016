/**
 * What the host logs about its lattice connections over a network (NATS): a warning when one drops,
 * naming the server; an info line when it is back, with how long it was down; warnings when the
 * server goes into lame-duck mode or stops answering pings. An outage that lasts, or an error the
 * server keeps sending (credentials refused at every reconnect), gets at most one line per interval,
 * with counts: never one line per reconnect attempt. Status events carry `host:port` and error
 * descriptions that name credentials without their secrets, so no line can hold a token or password.
 */
import { describeError } from '@cirrus/protocol';
import type { LogFields, Logger } from '@cirrus/protocol';
import type { LatticeConnection, LatticeStatus } from '@cirrus/lattice';

export interface WatchedConnection {
  readonly connection: LatticeConnection;
  /** Which connection, when a host has several (`control`, `rpc`); logged as `connection`. */
  readonly label?: string;
}

export interface StatusLogOptions {
  /** Least time between two lines about one outage, or about errors the server repeats. */
  readonly intervalMs: number;
  /** Monotonic milliseconds. */
  readonly now: () => number;
}

export interface StatusLogHandle {
  /** Stops logging; it also ends by itself when a connection closes. */
  stop(): void;
}

/** Logs the status of each connection that reports one (the in-memory lattice reports none). */
export function logLatticeStatus(
  watched: readonly WatchedConnection[],
  logger: Logger,
  options: StatusLogOptions,
): StatusLogHandle {
  const iterators: AsyncIterator<LatticeStatus>[] = [];
  for (const { connection, label } of watched) {
    const status = connection.status?.();
    if (status === undefined) continue;
    const iterator = status[Symbol.asyncIterator]();
    iterators.push(iterator);
    const log = new StatusLog(label === undefined ? logger : logger.child({ connection: label }), options);
    void (async () => {
      for (let next = await iterator.next(); next.done !== true; next = await iterator.next()) {
        log.record(next.value);
      }
    })();
  }
  return {
    stop: () => {
      for (const iterator of iterators) void iterator.return?.();
    },
  };
}

class StatusLog {
  readonly #logger: Logger;
  readonly #intervalMs: number;
  readonly #now: () => number;
  /** The server of the current outage, for the lines while it lasts. */
  #server = '';
  #lastOutageLine = 0;
  #lastErrorLine = Number.NEGATIVE_INFINITY;
  #unloggedErrors = 0;

  constructor(logger: Logger, options: StatusLogOptions) {
    this.#logger = logger;
    this.#intervalMs = options.intervalMs;
    this.#now = options.now;
  }

  record(status: LatticeStatus): void {
    const now = this.#now();
    switch (status.type) {
      case 'disconnected':
        this.#server = status.server;
        this.#lastOutageLine = now;
        this.#logger.warn('NATS connection lost; reconnecting', { server: status.server });
        return;
      case 'reconnecting':
        // The first attempt starts right after the drop; each later one means the one before failed.
        if (status.attempt < 2 || now - this.#lastOutageLine < this.#intervalMs) return;
        this.#lastOutageLine = now;
        this.#logger.warn('NATS still unreachable; reconnect attempts keep failing', {
          server: this.#server,
          down_ms: status.downMs,
          failed_attempts: status.attempt - 1,
        });
        return;
      case 'reconnected':
        this.#logger.info('NATS connection restored', {
          server: status.server,
          down_ms: status.downMs,
          attempts: status.attempts,
        });
        return;
      case 'stale':
        this.#logger.warn('NATS server stopped answering pings; dropping the connection', {
          server: status.server,
        });
        return;
      case 'lameDuck':
        this.#logger.warn('NATS server entering lame-duck mode; the connection will move to another server', {
          server: status.server,
        });
        return;
      case 'error': {
        if (now - this.#lastErrorLine < this.#intervalMs) {
          this.#unloggedErrors++;
          return;
        }
        this.#lastErrorLine = now;
        const fields: LogFields = { error: describeError(status.error) };
        if (this.#unloggedErrors > 0) fields['errors_not_logged'] = this.#unloggedErrors;
        this.#unloggedErrors = 0;
        this.#logger.error('NATS connection error', fields);
        return;
      }
    }
  }
}
