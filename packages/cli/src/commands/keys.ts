/** `cirrus keys gen TYPE`: a new nkey, its seed in a user-only file, its public key on stdout. */
import { resolve } from 'node:path';
import { Nkey, NKEY_TYPES, UsageError } from '@cirrus/protocol';
import type { NkeyType } from '@cirrus/protocol';
import { parseCommandArgs } from '../args.ts';
import type { CommandContext } from '../context.ts';
import { writeSeedFile } from '../seed-files.ts';
import { subcommand } from './lattice.ts';

export const KEYS_USAGE = `cirrus keys gen <${NKEY_TYPES.join('|')}> [--output FILE] [--force]`;

/** Characters of the public key in a default file name: the type letter and seven random ones. */
const NAME_KEY_CHARS = 8;

/** `<type>-<first characters of the public key>.nk` in the current directory. */
export function defaultSeedFile(key: Nkey): string {
  return resolve(`${key.type}-${key.publicKey.slice(0, NAME_KEY_CHARS)}.nk`);
}

export async function keys(argv: string[], context: CommandContext): Promise<number> {
  subcommand(argv, 'keys', ['gen'], KEYS_USAGE);
  const { values, positionals } = parseCommandArgs(
    argv.slice(1),
    { output: { type: 'string', short: 'o' }, force: { type: 'boolean' } },
    KEYS_USAGE,
  );
  const [type, ...extra] = positionals;
  if (type === undefined || extra.length > 0) {
    throw new UsageError(
      type === undefined ? 'cirrus keys gen needs a key type' : `unexpected ${extra.join(' ')}`,
      {
        hint: `usage: ${KEYS_USAGE}`,
      },
    );
  }
  if (!(NKEY_TYPES as readonly string[]).includes(type)) {
    throw new UsageError(`unknown key type ${JSON.stringify(type)}`, {
      hint: `one of: ${NKEY_TYPES.join(', ')}`,
    });
  }
  const key = Nkey.create(type as NkeyType);
  const file = values.output === undefined ? defaultSeedFile(key) : resolve(values.output);
  await writeSeedFile(file, key, { force: values.force === true });
  context.print(key.publicKey);
  context.log(`seed written to ${file} (mode 600); keep it secret, it signs as ${key.publicKey}`);
  return 0;
}
