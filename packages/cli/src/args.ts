/**
 * Flags declared once, as data: commander parses them and prints them in `--help`, and commands read
 * the values under the flag's own name (`values['local-port']`), as the user typed it.
 */
import { Option } from 'commander';
import type { Command } from 'commander';
import { UsageError } from '@cirrus/protocol';

export interface FlagSpec {
  /** What the value is called in help (`FILE`, `URL`); a flag without one is a switch. */
  readonly value?: string;
  /** May be given several times; the values come as a list. */
  readonly multiple?: boolean;
  /** A one-letter alias (`o` for `-o`). */
  readonly short?: string;
  /** One line for `--help`. */
  readonly description: string;
  /** What applies when the flag is left out, for `--help` only: commands apply their defaults. */
  readonly default?: string;
}

export type FlagSpecs = Readonly<Record<string, FlagSpec>>;

type ValueOf<S extends FlagSpec> = S extends { value: string }
  ? S extends { multiple: true }
    ? string[]
    : string
  : S extends { value?: undefined }
    ? boolean
    : string | boolean | string[];

/** The values of `F`'s flags, by flag name; undefined when left out. */
export type FlagValues<F extends FlagSpecs> = { -readonly [K in keyof F]?: ValueOf<F[K]> | undefined };

function describe(spec: FlagSpec): string {
  const notes = [
    ...(spec.multiple === true ? ['repeatable'] : []),
    ...(spec.default === undefined ? [] : [`default: ${spec.default}`]),
  ];
  return notes.length === 0 ? spec.description : `${spec.description} (${notes.join('; ')})`;
}

/** Declares `flags` on `command`, under the help heading `group` (commander's "Options:" without one). */
export function addFlags(command: Command, flags: FlagSpecs, group?: string): Command {
  for (const [name, spec] of Object.entries(flags)) {
    const short = spec.short === undefined ? '' : `-${spec.short}, `;
    const value = spec.value === undefined ? '' : ` <${spec.value}>`;
    const option = new Option(`${short}--${name}${value}`, describe(spec));
    if (spec.multiple === true) {
      option.argParser((item: string, previous: string[] | undefined) => [...(previous ?? []), item]);
    }
    if (group !== undefined) option.helpGroup(group);
    command.addOption(option);
  }
  return command;
}

/** The parsed values of `flags`, which `addFlags` declared on `command`. */
export function flagValues<F extends FlagSpecs>(command: Command, flags: F): FlagValues<F> {
  const values: Record<string, unknown> = {};
  for (const name of Object.keys(flags)) {
    const option = command.options.find((o) => o.long === `--${name}`);
    if (option === undefined) throw new Error(`--${name} is not declared on ${command.name()}`);
    const value: unknown = command.getOptionValue(option.attributeName());
    // Commander reads `--no-file-load` as fileLoad = false (true when left out); the flag is a switch.
    values[name] = option.negate ? (value === false ? true : undefined) : value;
  }
  return values as FlagValues<F>;
}

/** `cirrus get hosts`: the names from the program down to `command`. */
export function commandPath(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c !== null; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** The hint of a usage error: the command's usage line and where the flags are explained. */
export function usageHint(command: Command): string {
  const path = commandPath(command);
  return `usage: ${path} ${command.usage()} (${path} --help explains each flag)`;
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

/** `HOST:PORT` (an IPv6 host in brackets) of a listening flag; port 0 picks a free one. */
export function hostPort(text: string, flag: string, example: string): { host: string; port: number } {
  const match = /^(\[[^\]]+\]|[^:]+):([0-9]{1,5})$/.exec(text);
  const port = match === null ? Number.NaN : Number(match[2]);
  if (match === null || !(port >= 0 && port <= 65_535)) {
    throw new UsageError(`${flag} must be HOST:PORT, got ${JSON.stringify(text)}`, {
      hint: `e.g. ${flag} ${example}`,
    });
  }
  return { host: (match[1] as string).replace(/^\[(.*)\]$/, '$1'), port };
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
