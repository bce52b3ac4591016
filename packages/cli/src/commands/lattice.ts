/**
 * What every lattice-management command shares: the connection flags, a control client with the
 * right timeouts, HOST arguments that may be prefixes or friendly names, and the two output forms
 * (aligned columns for people, one JSON document for scripts).
 */
import { Command } from 'commander';
import { createControlClient } from '@cirrus/control-client';
import type { ControlAck, ControlClient } from '@cirrus/control-client';
import { AmbiguousHostError, HostNotFoundError, resolveLimits, UsageError } from '@cirrus/protocol';
import type { HostInfo, Limits, StringMap } from '@cirrus/protocol';
import type { LatticeConnection } from '@cirrus/lattice';
import { addFlags, flagValues, oneOf } from '../args.ts';
import type { FlagSpecs, FlagValues } from '../args.ts';
import { connectLattice } from '../connect.ts';
import { natsFlags, natsSettings } from '../nats-flags.ts';
import { runs, sentence } from '../program.ts';
import type { Invocation } from '../program.ts';
import type { CommandContext } from '../context.ts';

const LATTICE_FLAGS = {
  lattice: { value: 'NAME', description: 'lattice name', default: 'default' },
  timeout: {
    value: 'MS',
    description: 'reply deadline, and how long host.ping collects replies',
    default: '2000',
  },
  output: {
    value: 'FORMAT',
    description: 'table (aligned columns, one-line summaries) or json (one JSON document)',
    default: 'table',
  },
} as const satisfies FlagSpecs;

const NATS_FLAGS = natsFlags(['nats'], 'the local host that cirrus up runs');

/** What the positional HOST of a command means. */
export const HOST_ARGUMENT = 'host id, unique prefix of one, or friendly name';

export type OutputFormat = 'table' | 'json';

interface CommonValues {
  lattice?: string | undefined;
  timeout?: string | undefined;
  output?: string | undefined;
  /** `--nats` and the `--nats-…` flags. */
  [flag: string]: string | boolean | (string | boolean)[] | undefined;
}

/** What a lattice subcommand's action gets: its flags, its positionals, and the connection flags. */
export interface LatticeInput<F extends FlagSpecs> {
  values: FlagValues<F>;
  args: string[];
  output: OutputFormat;
  common: CommonValues;
  command: Command;
}

/**
 * A lattice subcommand (`get hosts`, `link put`): its own flags, then the lattice, output and NATS
 * flags every one takes. Positionals are declared on the result.
 */
export function latticeCommand<F extends FlagSpecs>(
  name: string,
  summary: string,
  flags: F,
  invocation: Invocation,
  run: (input: LatticeInput<F>) => Promise<number>,
): Command {
  const command = new Command(name).summary(summary).description(sentence(summary));
  addFlags(command, flags);
  addFlags(command, LATTICE_FLAGS, 'Lattice:');
  addFlags(command, NATS_FLAGS, 'NATS connection (credentials from files or the environment only):');
  return runs(command, invocation, () => {
    const common: CommonValues = {
      ...flagValues(command, LATTICE_FLAGS),
      ...flagValues(command, NATS_FLAGS),
    };
    const output = oneOf<OutputFormat>(common.output, ['table', 'json'], '--output', 'table');
    return run({ values: flagValues(command, flags), args: command.args, output, common, command });
  });
}

function parseTimeout(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^[0-9]+$/.test(text) || Number(text) <= 0 || !Number.isSafeInteger(Number(text))) {
    throw new UsageError(
      `--timeout must be a positive whole number of milliseconds, got ${JSON.stringify(text)}`,
      {
        hint: 'e.g. --timeout 5000',
      },
    );
  }
  return Number(text);
}

/** A connection to the chosen lattice, for one command. */
export interface LatticeSession {
  connection: LatticeConnection;
  lattice: string;
  limits: Limits;
  /** --timeout, when given. */
  timeoutMs: number | undefined;
}

/** Runs `body` with a connection to the chosen lattice and always closes it. */
export async function withLattice<T>(
  common: CommonValues,
  context: CommandContext,
  body: (session: LatticeSession) => Promise<T>,
): Promise<T> {
  const limits = resolveLimits({}, context.env);
  // Like wash's --timeout-ms: one flag bounds both single replies and the host.ping window.
  const timeoutMs = parseTimeout(common.timeout);
  const nats = await natsSettings(common, {
    env: context.env,
    warn: (line) => context.log(`warning: ${line}`),
    secretFileMaxBytes: limits.secretFileMaxBytes,
  });
  const session = await connectLattice({ nats, lattice: common.lattice }, context, limits);
  try {
    return await body({ connection: session.connection, lattice: session.lattice, limits, timeoutMs });
  } finally {
    await session.close();
  }
}

/** Runs `body` with a control client on the chosen lattice and always closes the connection. */
export function withControlClient<T>(
  common: CommonValues,
  context: CommandContext,
  body: (client: ControlClient) => Promise<T>,
): Promise<T> {
  return withLattice(common, context, ({ connection, lattice, limits, timeoutMs }) =>
    body(
      createControlClient({
        connection,
        lattice,
        timeoutMs: timeoutMs ?? limits.controlRequestTimeoutMs,
        scatterMs: timeoutMs ?? limits.controlScatterWindowMs,
        waitTimeoutMs: limits.controlWaitTimeoutMs,
      }),
    ),
  );
}

/** A full host id: an nkey server public key, `N` and 55 base32 characters. */
const FULL_HOST_ID = /^N[A-Z2-7]{55}$/;

function describeHost(host: HostInfo): string {
  return `${host.id} (${host.friendly_name})`;
}

/**
 * Turns a HOST argument into a host id: a full id is used as is (no round trip); anything else is
 * matched against the hosts that answer `host.ping` as an exact id or friendly name, then as an id
 * prefix.
 */
export async function resolveHost(client: ControlClient, arg: string): Promise<string> {
  if (FULL_HOST_ID.test(arg)) return arg;
  const hosts = await client.pingHosts();
  let matches = hosts.filter((h) => h.id === arg || h.friendly_name === arg);
  if (matches.length === 0) {
    const prefix = arg.toUpperCase();
    matches = hosts.filter((h) => h.id.startsWith(prefix));
  }
  const [only] = matches;
  if (only !== undefined && matches.length === 1) return only.id;
  if (matches.length > 1) {
    throw new AmbiguousHostError(`"${arg}" matches several hosts: ${matches.map(describeHost).join(', ')}`, {
      hint: 'give more characters of the host id, the full id, or the friendly name',
      details: { matches: matches.map((h) => h.id) },
    });
  }
  throw new HostNotFoundError(`no host matches "${arg}" on lattice "${client.lattice}"`, {
    hint:
      hosts.length === 0
        ? `no host answered on lattice "${client.lattice}"; is one running (\`cirrus up\`), and are --lattice and --nats right?`
        : `hosts: ${hosts.map(describeHost).join(', ')}`,
  });
}

// --- output --------------------------------------------------------------------------------------

export function printJson(context: CommandContext, value: unknown): void {
  context.print(JSON.stringify(value, null, 2));
}

/** Columns padded to their widest cell, two spaces apart; trailing blanks trimmed. */
export function printTable(
  context: CommandContext,
  headers: readonly string[],
  rows: readonly string[][],
): void {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  context.print(line(headers));
  for (const row of rows) context.print(line(row));
}

/** `a=1, b=2`, or `-` for an empty map (an empty cell would shift the eye to the next column). */
export function formatMap(map: StringMap | null | undefined): string {
  const entries = Object.entries(map ?? {});
  return entries.length === 0 ? '-' : entries.map(([k, v]) => `${k}=${v}`).join(', ');
}

export function formatList(list: readonly string[] | undefined): string {
  return list === undefined || list.length === 0 ? '-' : list.join(', ');
}

/** Prints an acknowledgement: a summary for people (plus the host's note, if any), or JSON. */
export function printAck(
  context: CommandContext,
  output: OutputFormat,
  summary: string,
  ack: ControlAck,
  extra: Record<string, unknown> = {},
): void {
  if (output === 'json') {
    printJson(context, { success: true, message: ack.message, ...extra });
    return;
  }
  context.print(summary);
  // 1.x hosts ack with "successfully put label" and the like, which the summary already says; other
  // messages are warnings worth showing (e.g. a scale that kept a different running image).
  if (ack.message !== '' && !/^successfully [^()]*$/i.test(ack.message))
    context.print(`host: ${ack.message}`);
}
