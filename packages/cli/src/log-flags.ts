/** The log flags of the commands that run until stopped (`cirrus up`, `cirrus app manager`). */
import { createLogger } from '@cirrus/host';
import type { LogFormat, LogLevel } from '@cirrus/host';
import type { Limits, Logger } from '@cirrus/protocol';
import { oneOf } from './args.ts';
import type { FlagSpecs } from './args.ts';
import type { CommandContext } from './context.ts';

export const LOG_FLAGS = {
  'log-format': {
    value: 'FORMAT',
    description: 'human (time LEVEL message key=value…) or json (one object per line)',
    default: 'human',
  },
  'log-level': {
    value: 'LEVEL',
    description: 'debug, info, warn or error: the least level logged',
    default: 'info',
  },
} as const satisfies FlagSpecs;

export function loggerFromFlags(
  values: { 'log-format'?: string | undefined; 'log-level'?: string | undefined },
  context: CommandContext,
  limits: Limits,
): Logger {
  return createLogger({
    format: oneOf<LogFormat>(values['log-format'], ['human', 'json'], '--log-format', 'human'),
    level: oneOf<LogLevel>(values['log-level'], ['debug', 'info', 'warn', 'error'], '--log-level', 'info'),
    write: context.log,
    repeatLimit: { lines: limits.logRepeatLines, windowMs: limits.logRepeatWindowMs },
  });
}
