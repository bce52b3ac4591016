import type { LogFields, Logger } from '@cirrus/protocol';

export type LogFormat = 'human' | 'json';
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface LoggerOptions {
  format?: LogFormat;
  level?: LogLevel;
  /** Where lines go (default: stderr). */
  write?: (line: string) => void;
}

function formatValue(value: unknown): string {
  if (typeof value === 'string') return /[\s="]/.test(value) ? JSON.stringify(value) : value;
  if (value instanceof Error) return JSON.stringify(value.message);
  return JSON.stringify(value) ?? String(value);
}

/** A structured logger: `human` prints `time LEVEL message key=value …`, `json` one object per line. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const format = options.format ?? 'human';
  const threshold = LEVELS[options.level ?? 'info'];
  const write = options.write ?? ((line: string) => process.stderr.write(`${line}\n`));

  const make = (bound: LogFields): Logger => {
    const emit = (level: LogLevel, message: string, fields?: LogFields): void => {
      if (LEVELS[level] < threshold) return;
      const all = fields === undefined ? bound : { ...bound, ...fields };
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
