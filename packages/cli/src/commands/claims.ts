/**
 * `cirrus claims sign|inspect`: embed wascap-compatible claims in a component (or module), and show
 * them with the result of every check a host makes.
 */
import { readFile, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import {
  ArtifactNotFoundError,
  ClaimsRequiredError,
  inspectComponentClaims,
  Nkey,
  signComponent,
  UsageError,
} from '@cirrus/protocol';
import type { ClaimsInspection } from '@cirrus/protocol';
import { inspectWasm } from '@cirrus/runtime';
import { oneOf, parseCommandArgs } from '../args.ts';
import type { CommandContext } from '../context.ts';
import { readSeedFile, writeSeedFile } from '../seed-files.ts';
import { subcommand } from './lattice.ts';

const SIGN_USAGE =
  'cirrus claims sign WASM --issuer SEEDFILE [--subject SEEDFILE] --name NAME --ver VERSION --rev N [--tag TAG]… [--expires WHEN] [--not-before WHEN] [--output FILE]';
const INSPECT_USAGE = 'cirrus claims inspect WASM [--output table|json]';

export const CLAIMS_USAGE = [SIGN_USAGE, INSPECT_USAGE].join('\n');

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

async function readWasm(file: string): Promise<Uint8Array> {
  const info = await stat(file).catch(() => undefined);
  if (info?.isFile() !== true) {
    throw new ArtifactNotFoundError(`${file} does not exist`, { hint: 'give the path of a .wasm file' });
  }
  const bytes = new Uint8Array(await readFile(file));
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
async function moduleKey(file: string, context: CommandContext): Promise<Nkey> {
  const existing = await stat(file).catch(() => undefined);
  if (existing !== undefined) {
    const key = await readSeedFile(file, 'module', 'the module key');
    context.log(`using the module key in ${file} (${key.publicKey})`);
    return key;
  }
  const key = Nkey.create('module');
  await writeSeedFile(file, key);
  context.log(`new module key ${key.publicKey}: seed written to ${file} (mode 600)`);
  return key;
}

async function sign(argv: string[], context: CommandContext): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    argv,
    {
      issuer: { type: 'string' },
      subject: { type: 'string' },
      name: { type: 'string' },
      ver: { type: 'string' },
      rev: { type: 'string' },
      tag: { type: 'string', multiple: true },
      expires: { type: 'string' },
      'not-before': { type: 'string' },
      output: { type: 'string', short: 'o' },
    },
    SIGN_USAGE,
  );
  if (positionals.length !== 1) {
    throw new UsageError('cirrus claims sign needs exactly one WASM file', { hint: `usage: ${SIGN_USAGE}` });
  }
  const missing = (['issuer', 'name', 'ver', 'rev'] as const).filter((flag) => values[flag] === undefined);
  if (missing.length > 0) {
    throw new UsageError(`cirrus claims sign needs ${missing.map((f) => `--${f}`).join(', ')}`, {
      hint: `usage: ${SIGN_USAGE}`,
    });
  }
  const input = resolve(positionals[0] as string);
  const output = values.output === undefined ? defaultSignedFile(input) : resolve(values.output);
  const now = new Date();
  const rev = parseRev(values.rev as string);
  const expires = values.expires === undefined ? undefined : parseWhen(values.expires, '--expires', now);
  const notBefore =
    values['not-before'] === undefined ? undefined : parseWhen(values['not-before'], '--not-before', now);
  const bytes = await readWasm(input);
  const issuer = await readSeedFile(resolve(values.issuer as string), 'account', 'the issuer key');
  const subject =
    values.subject === undefined
      ? await moduleKey(moduleSeedFile(input, output), context)
      : await readSeedFile(resolve(values.subject), 'module', 'the subject key');
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

async function inspect(argv: string[], context: CommandContext): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    argv,
    { output: { type: 'string', short: 'o' } },
    INSPECT_USAGE,
  );
  if (positionals.length !== 1) {
    throw new UsageError('cirrus claims inspect needs exactly one WASM file', {
      hint: `usage: ${INSPECT_USAGE}`,
    });
  }
  const output = oneOf(values.output, ['table', 'json'], '--output', 'table');
  const file = resolve(positionals[0] as string);
  const report = await inspectComponentClaims(await readWasm(file));
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

export async function claims(argv: string[], context: CommandContext): Promise<number> {
  const name = subcommand(argv, 'claims', ['sign', 'inspect'], CLAIMS_USAGE);
  return name === 'sign' ? sign(argv.slice(1), context) : inspect(argv.slice(1), context);
}
