/**
 * Structured logs on stderr, one JSON object per line: the host reads the provider's stderr and
 * forwards each line into its own log under the provider's id, keeping level and fields.
 */
import { describeError } from '@cirrus/protocol';
import type { LogFields, Logger, ProviderLogLevel } from '@cirrus/protocol';
import { activeTraceIds } from '@cirrus/lattice';

type Level = 'debug' | 'info' | 'warn' | 'error';

const RANK: Readonly<Record<Level, number>> = { debug: 0, info: 1, warn: 2, error: 3 };

/** The host's log level (HostData `log_level`) folded onto the four levels written here. */
export function minimumLevel(level: ProviderLogLevel | null): Level {
  switch (level) {
    case 'trace':
    case 'debug':
      return 'debug';
    case 'warn':
      return 'warn';
    case 'error':
    case 'critical':
      return 'error';
    default:
      return 'info';
  }
}

/** Values JSON cannot carry as they are: errors lose their message, bigints throw. */
function replacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) return describeError(value);
  if (typeof value === 'bigint') return value.toString();
  return value;
}

export interface JsonLoggerOptions {
  level: Level;
  write: (line: string) => void;
  fields?: LogFields;
}

export function createJsonLogger(options: JsonLoggerOptions): Logger {
  const min = RANK[options.level];
  const base = options.fields ?? {};
  const make = (fields: LogFields): Logger => {
    const log =
      (level: Level) =>
      (msg: string, extra: LogFields = {}): void => {
        if (RANK[level] < min) return;
        // Inside a traced call, the line names the trace and span it belongs to.
        const entry = {
          ...fields,
          ...extra,
          ...activeTraceIds(),
          time: new Date().toISOString(),
          level,
          msg,
        };
        let line: string;
        try {
          line = JSON.stringify(entry, replacer);
        } catch {
          // A cyclic field must not cost the message itself.
          line = JSON.stringify({ time: entry.time, level, msg });
        }
        options.write(`${line}\n`);
      };
    return {
      debug: log('debug'),
      info: log('info'),
      warn: log('warn'),
      error: log('error'),
      child: (more) => make({ ...fields, ...more }),
    };
  };
  return make(base);
}
