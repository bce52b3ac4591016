import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';
import { UsageError } from '@cirrus/protocol';

type Options = NonNullable<ParseArgsConfig['options']>;

/** `parseArgs` with typed usage errors that point at the command's help. */
export function parseCommandArgs<O extends Options>(argv: string[], options: O, usage: string) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message, { hint: `usage: ${usage}` });
  }
}

/** Parses repeated `k=v` flags into a map. */
export function keyValues(values: readonly string[] | undefined, flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of values ?? []) {
    const eq = item.indexOf('=');
    if (eq <= 0)
      throw new UsageError(`${flag} ${JSON.stringify(item)} is not key=value`, {
        hint: `e.g. ${flag} zone=eu-west`,
      });
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

export function oneOf<T extends string>(
  value: string | undefined,
  allowed: readonly T[],
  flag: string,
  fallback: T,
): T {
  if (value === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(value)) {
    throw new UsageError(`${flag} must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
  }
  return value as T;
}
