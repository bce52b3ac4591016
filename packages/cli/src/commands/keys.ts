/** `cirrus keys gen TYPE`: a new nkey, its seed in a user-only file, its public key on stdout. */
import { resolve } from 'node:path';
import { Command } from 'commander';
import { Nkey, NKEY_TYPES, UsageError } from '@cirrus/protocol';
import type { NkeyType } from '@cirrus/protocol';
import { addFlags, flagValues } from '../args.ts';
import type { FlagSpecs } from '../args.ts';
import { commandGroup, runs } from '../program.ts';
import type { Invocation } from '../program.ts';
import { writeSeedFile } from '../seed-files.ts';

/** Characters of the public key in a default file name: the type letter and seven random ones. */
const NAME_KEY_CHARS = 8;

const GEN_FLAGS = {
  output: {
    value: 'FILE',
    short: 'o',
    description: 'where the seed goes (mode 600)',
    default: '<type>-<first 8 characters of the key>.nk here',
  },
  force: { description: 'replace an existing file (atomically); without it that is FILE_EXISTS' },
} as const satisfies FlagSpecs;

/** `<type>-<first characters of the public key>.nk` in the current directory. */
export function defaultSeedFile(key: Nkey): string {
  return resolve(`${key.type}-${key.publicKey.slice(0, NAME_KEY_CHARS)}.nk`);
}

export function keysCommand(invocation: Invocation): Command {
  const { context } = invocation;
  const gen = new Command('gen')
    .summary('generate a key: the seed goes to a user-only file, the public key to stdout')
    .description(
      'Generates an nkey and writes its seed to a file with mode 600 (the format wash keeps in ~/.wash/keys); the public key goes to stdout.',
    )
    .argument('<TYPE>', `key type: ${NKEY_TYPES.join(', ')}`);
  addFlags(gen, GEN_FLAGS);
  runs(gen, invocation, async () => {
    const values = flagValues(gen, GEN_FLAGS);
    const type = gen.args[0] as string;
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
  });
  return commandGroup('keys', 'generate a key; the seed goes to a user-only file', [gen]);
}
