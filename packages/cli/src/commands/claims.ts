/**
 * `cirrus claims sign|inspect`: embed wascap-compatible claims in a component (or module), and show
 * them with the result of every check a host makes.
 */
import { stat, writeFile } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { Command } from 'commander';
import {
  ArtifactNotFoundError,
  ArtifactTooLargeError,
  ClaimsRequiredError,
  FileNotFoundError,
  FileTooLargeError,
  inspectComponentClaims,
  Nkey,
  resolveLimits,
  signComponent,
  UsageError,
} from '@cirrus/protocol';
import type { ClaimsInspection, Limits } from '@cirrus/protocol';
import { inspectWasm, readRegularFile } from '@cirrus/runtime';
import { addFlags, flagValues, oneOf, usageHint } from '../args.ts';
import type { FlagSpecs } from '../args.ts';
import type { CommandContext } from '../context.ts';
import { commandGroup, runs } from '../program.ts';
import type { Invocation } from '../program.ts';
import { readSeedFile, writeSeedFile } from '../seed-files.ts';

const WHEN = 'a duration from now (90m, 12h, 30d, 2w) or an ISO date (2026-01-31T12:00:00Z)';

const SIGN_FLAGS = {
  issuer: { value: 'SEEDFILE', description: "account seed (SA…) that signs: the claims' iss (required)" },
  subject: {
    value: 'SEEDFILE',
    description: "module seed (SM…): the component's identity, created there when missing",
    default: '<output dir>/<WASM name>_module.nk',
  },
  name: { value: 'NAME', description: 'name in the claims (required)' },
  ver: { value: 'VERSION', description: 'version in the claims (required)' },
  rev: { value: 'N', description: 'revision in the claims, a whole number (required)' },
  tag: { value: 'TAG', multiple: true, description: 'a tag in the claims', default: 'none' },
  expires: { value: 'WHEN', description: `when the claims stop being valid: ${WHEN}`, default: 'never' },
  'not-before': {
    value: 'WHEN',
    description: 'when they start being valid, in the same forms',
    default: 'now',
  },
  output: {
    value: 'FILE',
    short: 'o',
    description: 'where the signed binary goes',
    default: '<WASM dir>/<WASM name>_s.wasm',
  },
} as const satisfies FlagSpecs;

const INSPECT_FLAGS = {
  output: { value: 'FORMAT', short: 'o', description: 'table or json', default: 'table' },
} as const satisfies FlagSpecs;

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };

/**
 * Seconds since the epoch for `--expires`/`--not-before`: a duration from now (`90m`, `12h`, `30d`,
 * `2w`) or an ISO 8601 date or time (`2026-01-31`, `2026-01-31T12:00:00Z`).
 */
export function parseWhen(text: string, flag: string, now: Date): number {
  const duration = /^([0-9]{1,9})([smhdw])$/.exec(text);
  if (duration !== null) {
    return (
      Math.floor(now.getTime() / 1000) + Number(duration[1]) * (UNIT_SECONDS[duration[2] as string] as number)
    );
  }
  const date = /^[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9:.]+(Z|[+-][0-9]{2}:[0-9]{2}))?$/.test(text)
    ? Date.parse(text)
    : Number.NaN;
  if (Number.isNaN(date)) {
    throw new UsageError(`${flag} ${JSON.stringify(text)} is neither a duration nor a date`, {
      hint: `e.g. ${flag} 30d, ${flag} 12h or ${flag} 2026-01-31T12:00:00Z`,
    });
  }
  return Math.floor(date / 1000);
}

function parseRev(text: string): number {
  const rev = /^-?[0-9]{1,10}$/.test(text) ? Number(text) : Number.NaN;
  if (!(Number.isInteger(rev) && rev >= -0x8000_0000 && rev <= 0x7fff_ffff)) {
    throw new UsageError(`--rev must be a whole number, got ${JSON.stringify(text)}`, {
      hint: 'e.g. --rev 1',
    });
  }
  return rev;
}

async function readWasm(file: string, limits: Limits): Promise<Uint8Array> {
  let bytes: Uint8Array;
  try {
    bytes = await readRegularFile(file, {
      what: 'component file',
      maxBytes: limits.componentMaxBytes,
      limitName: 'componentMaxBytes',
    });
  } catch (err) {
    // The codes a component file has everywhere else.
    if (err instanceof FileNotFoundError) {
      throw new ArtifactNotFoundError(`${file} does not exist`, { hint: 'give the path of a .wasm file' });
    }
    if (err instanceof FileTooLargeError) {
      throw new ArtifactTooLargeError(err.message, { hint: err.hint });
    }
    throw err;
  }
  inspectWasm(bytes, file);
  return bytes;
}

/** Where the module key of an output lives when no --subject is given: `<dir>/<input name>_module.nk`. */
export function moduleSeedFile(input: string, output: string): string {
  return join(dirname(output), `${basename(input, extname(input))}_module.nk`);
}

/** wash's default: `<dir of input>/<input name>_s.wasm`, never the input itself. */
export function defaultSignedFile(input: string): string {
  return join(dirname(input), `${basename(input, extname(input))}_s.wasm`);
}

/**
 * The module key without --subject: the one a previous signing left next to the output (so the
 * component keeps its identity when signed again), or a new one written there.
 */
async function moduleKey(file: string, context: CommandContext, limits: Limits): Promise<Nkey> {
  const existing = await stat(file).catch(() => undefined);
  if (existing !== undefined) {
    const key = await readSeedFile(file, 'module', 'the module key', limits.secretFileMaxBytes);
    context.log(`using the module key in ${file} (${key.publicKey})`);
    return key;
  }
  const key = Nkey.create('module');
  await writeSeedFile(file, key);
  context.log(`new module key ${key.publicKey}: seed written to ${file} (mode 600)`);
  return key;
}

async function sign(command: Command, context: CommandContext): Promise<number> {
  const values = flagValues(command, SIGN_FLAGS);
  const missing = (['issuer', 'name', 'ver', 'rev'] as const).filter((flag) => values[flag] === undefined);
  if (missing.length > 0) {
    throw new UsageError(`cirrus claims sign needs ${missing.map((f) => `--${f}`).join(', ')}`, {
      hint: usageHint(command),
    });
  }
  const limits = resolveLimits({}, context.env);
  const input = resolve(command.args[0] as string);
  const output = values.output === undefined ? defaultSignedFile(input) : resolve(values.output);
  const now = new Date();
  const rev = parseRev(values.rev as string);
  const expires = values.expires === undefined ? undefined : parseWhen(values.expires, '--expires', now);
  const notBefore =
    values['not-before'] === undefined ? undefined : parseWhen(values['not-before'], '--not-before', now);
  const bytes = await readWasm(input, limits);
  const issuer = await readSeedFile(
    resolve(values.issuer as string),
    'account',
    'the issuer key',
    limits.secretFileMaxBytes,
  );
  const subject =
    values.subject === undefined
      ? await moduleKey(moduleSeedFile(input, output), context, limits)
      : await readSeedFile(resolve(values.subject), 'module', 'the subject key', limits.secretFileMaxBytes);
  const signed = await signComponent(bytes, {
    issuer,
    subject,
    name: values.name as string,
    ver: values.ver,
    rev,
    tags: values.tag ?? [],
    ...(expires === undefined ? {} : { expires }),
    ...(notBefore === undefined ? {} : { notBefore }),
  });
  await writeFile(output, signed.bytes);
  context.print(`Signed ${output}`);
  context.print(`  component ${signed.claims.sub}`);
  context.print(`  account   ${signed.claims.iss}`);
  context.print(`  hash      ${signed.claims.wascap.hash}`);
  return 0;
}

function time(seconds: number | undefined, absent: string): string {
  if (seconds === undefined) return absent;
  const date = new Date(seconds * 1000);
  return Number.isNaN(date.getTime()) ? String(seconds) : date.toISOString();
}

function inspectionJson(file: string, report: ClaimsInspection): object {
  return {
    file,
    section: report.section,
    claims: report.claims,
    checks: {
      signature_valid: report.signatureValid,
      hash_matches: report.hashMatches,
      computed_hash: report.computedHash,
      expired: report.expired,
      not_yet_valid: report.notYetValid,
    },
  };
}

function printInspection(context: CommandContext, file: string, report: ClaimsInspection): void {
  const { claims } = report;
  const { wascap } = claims;
  const yes = (ok: boolean, good: string, bad: string): string => (ok ? good : `${bad}  ✖`);
  const rows: [string, string][] = [
    ['File', file],
    ['Name', wascap.name ?? '(none)'],
    ['Component', claims.sub],
    ['Account', claims.iss],
    ['Version', wascap.ver ?? '(none)'],
    ['Revision', wascap.rev === undefined ? '(none)' : String(wascap.rev)],
    ['Tags', wascap.tags === undefined || wascap.tags.length === 0 ? '(none)' : wascap.tags.join(', ')],
    ['Issued', time(claims.iat, '(unknown)')],
    ['Expires', yes(!report.expired, time(claims.exp, 'never'), `${time(claims.exp, 'never')} (expired)`)],
    [
      'Can be used',
      yes(
        !report.notYetValid,
        time(claims.nbf, 'immediately'),
        `${time(claims.nbf, 'immediately')} (not yet)`,
      ),
    ],
    [
      'Hash',
      yes(report.hashMatches, `${wascap.hash} (matches)`, `${wascap.hash} (binary: ${report.computedHash})`),
    ],
    ['Signature', yes(report.signatureValid, 'valid', 'INVALID')],
    ['Section', `${report.section}, wascap revision ${claims.wascap_revision ?? '(none)'}`],
  ];
  const width = Math.max(...rows.map(([label]) => label.length));
  for (const [label, value] of rows) context.print(`${label.padEnd(width)}  ${value}`);
}

async function inspect(command: Command, context: CommandContext): Promise<number> {
  const values = flagValues(command, INSPECT_FLAGS);
  const output = oneOf(values.output, ['table', 'json'], '--output', 'table');
  const file = resolve(command.args[0] as string);
  const report = await inspectComponentClaims(await readWasm(file, resolveLimits({}, context.env)));
  if (report === undefined) {
    throw new ClaimsRequiredError(`${file} carries no claims`, {
      hint: 'sign it: cirrus claims sign WASM --issuer SEEDFILE --name … --ver … --rev …',
    });
  }
  if (output === 'json') context.print(JSON.stringify(inspectionJson(file, report), null, 2));
  else printInspection(context, file, report);
  // A script can rely on the exit code: 0 only when a host would accept the claims.
  const passes = report.signatureValid && report.hashMatches && !report.expired && !report.notYetValid;
  return passes ? 0 : 1;
}

export function claimsCommand(invocation: Invocation): Command {
  const signCommand = new Command('sign')
    .summary('embed signed wascap claims in a component, as wash claims sign does')
    .description(
      'Embeds wascap claims in a component (or core module), signed by the issuer account; seeds are read from files only you can read.',
    )
    .argument('<WASM>', 'the component or module to sign');
  addFlags(signCommand, SIGN_FLAGS);
  runs(signCommand, invocation, () => sign(signCommand, invocation.context));

  const inspectCommand = new Command('inspect')
    .summary("show a component's claims and every check a host makes; exit 1 when one fails")
    .description(
      "Shows a component's claims and the result of every check a host makes; exits 0 only when a host would accept them.",
    )
    .argument('<WASM>', 'the component or module to inspect');
  addFlags(inspectCommand, INSPECT_FLAGS);
  runs(inspectCommand, invocation, () => inspect(inspectCommand, invocation.context));

  return commandGroup('claims', 'sign a component, or inspect its claims', [signCommand, inspectCommand]);
}
