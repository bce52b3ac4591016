import { DEFAULT_LIMITS, unrefTimer } from '@cirrus/protocol';
import type { LogFields, Logger } from '@cirrus/protocol';
import { activeTraceIds } from '@cirrus/lattice';

export type LogFormat = 'human' | 'json';
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface LogRepeatLimit {
  /** Lines of one kind written per window; further ones are counted, not written. */
  lines: number;
  windowMs: number;
}

export interface LoggerOptions {
  format?: LogFormat;
  level?: LogLevel;
  /** Where lines go (default: stderr). */
  write?: (line: string) => void;
  /**
   * Bounds repeated lines (same level, message, `code` and `component`): an overloaded host
   * answering thousands of requests a second with 503 would otherwise write a line for each
   * (measured: 31 MB in 10 s), which costs more CPU than the answers. Default: the limits
   * `logRepeatLines` per `logRepeatWindowMs`; `false` turns it off.
   */
  repeatLimit?: LogRepeatLimit | false;
}

const DEFAULT_REPEAT_LIMIT: LogRepeatLimit = {
  lines: DEFAULT_LIMITS.logRepeatLines,
  windowMs: DEFAULT_LIMITS.logRepeatWindowMs,
};

/** Kinds of lines tracked at once; past it the oldest kind is forgotten (it can only be let through). */
const MAX_TRACKED_KINDS = 1_000;

function formatValue(value: unknown): string {
  if (typeof value === 'string') return /[\s="]/.test(value) ? JSON.stringify(value) : value;
  if (value instanceof Error) return JSON.stringify(value.message);
  return JSON.stringify(value) ?? String(value);
}

interface Kind {
  windowStart: number;
  written: number;
  suppressed: number;
  level: LogLevel;
  message: string;
  fields: LogFields;
}

/**
 * Counts lines per kind in fixed windows. A kind over its limit is suppressed until its window ends;
 * then one line says how many were left out, so the log stays honest about volume.
 */
class RepeatLimiter {
  readonly #limit: LogRepeatLimit;
  readonly #kinds = new Map<string, Kind>();
  readonly #report: (kind: Kind) => void;
  #timer: NodeJS.Timeout | undefined;

  constructor(limit: LogRepeatLimit, report: (kind: Kind) => void) {
    this.#limit = limit;
    this.#report = report;
  }

  /** Whether the line may be written now. */
  admit(level: LogLevel, message: string, fields: LogFields): boolean {
    const key = [level, message, fields['code'], fields['component']].join('\u0000');
    const now = performance.now();
    let kind = this.#kinds.get(key);
    if (kind !== undefined && now - kind.windowStart >= this.#limit.windowMs) {
      this.#close(key, kind);
      kind = undefined;
    }
    if (kind === undefined) {
      if (this.#kinds.size >= MAX_TRACKED_KINDS) this.#evictOldest();
      kind = { windowStart: now, written: 0, suppressed: 0, level, message, fields };
      this.#kinds.set(key, kind);
    }
    if (kind.written < this.#limit.lines) {
      kind.written++;
      return true;
    }
    kind.suppressed++;
    kind.fields = fields;
    this.#timer ??= unrefTimer(setInterval(() => this.#sweep(), this.#limit.windowMs));
    return false;
  }

  #close(key: string, kind: Kind): void {
    this.#kinds.delete(key);
    if (kind.suppressed > 0) this.#report(kind);
  }

  #evictOldest(): void {
    const [key, kind] = this.#kinds.entries().next().value as [string, Kind];
    this.#close(key, kind);
  }

  /** Reports windows that ended without a later line of their kind. */
  #sweep(): void {
    const now = performance.now();
    for (const [key, kind] of this.#kinds) {
      if (now - kind.windowStart >= this.#limit.windowMs) this.#close(key, kind);
    }
    if (![...this.#kinds.values()].some((k) => k.suppressed > 0)) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }
}

/** A structured logger: `human` prints `time LEVEL message key=value …`, `json` one object per line. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const format = options.format ?? 'human';
  const threshold = LEVELS[options.level ?? 'info'];
  const write = options.write ?? ((line: string) => process.stderr.write(`${line}\n`));

  const print = (level: LogLevel, message: string, all: LogFields): void => {
    const time = new Date().toISOString();
    if (format === 'json') {
      write(JSON.stringify({ time, level, msg: message, ...all }));
      return;
    }
    const pairs = Object.entries(all)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${formatValue(v)}`)
      .join(' ');
    write(`${time} ${level.toUpperCase().padEnd(5)} ${message}${pairs === '' ? '' : ` ${pairs}`}`);
  };
  const repeatLimit = options.repeatLimit ?? DEFAULT_REPEAT_LIMIT;
  const limiter =
    repeatLimit === false
      ? undefined
      : new RepeatLimiter(repeatLimit, (kind) =>
          print(kind.level, `${kind.message} (repeated lines left out)`, {
            ...kind.fields,
            left_out: kind.suppressed,
            window_s: repeatLimit.windowMs / 1000,
          }),
        );

  const make = (bound: LogFields): Logger => {
    const emit = (level: LogLevel, message: string, fields?: LogFields): void => {
      if (LEVELS[level] < threshold) return;
      // A line written inside a traced request says which: a collector joins the log to the trace.
      const traced = activeTraceIds();
      const all = fields === undefined && traced === undefined ? bound : { ...bound, ...fields, ...traced };
      if (limiter !== undefined && !limiter.admit(level, message, all)) return;
      print(level, message, all);
    };
    return {
      debug: (m, f) => emit('debug', m, f),
      info: (m, f) => emit('info', m, f),
      warn: (m, f) => emit('warn', m, f),
      error: (m, f) => emit('error', m, f),
      child: (fields) => make({ ...bound, ...fields }),
    };
  };
  return make({});
}
