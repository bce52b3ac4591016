import { CirrusError, UsageError } from '@cirrus/protocol';
import { VERSION } from '@cirrus/host';
import { BUILD_USAGE, buildCommand } from './commands/build.ts';
import { UP_USAGE, up } from './commands/up.ts';
import type { CommandContext } from './context.ts';

type Command = (argv: string[], context: CommandContext) => Promise<number>;

const COMMANDS: Record<string, { run: Command; usage: string; summary: string }> = {
  up: { run: up, usage: UP_USAGE, summary: 'start a host on the embedded lattice and deploy an application' },
  build: {
    run: buildCommand,
    usage: BUILD_USAGE,
    summary: 'build a TypeScript component project into a component',
  },
};

function help(): string {
  const lines = Object.entries(COMMANDS).map(
    ([name, c]) => `  ${name.padEnd(8)} ${c.summary}\n           ${c.usage}`,
  );
  return `cirrus ${VERSION}: a WebAssembly application platform (wasmCloud 1.x compatible)\n\nCommands:\n${lines.join('\n')}`;
}

/** Formats any failure for a terminal: typed errors show their code and how to fix them. */
export function formatError(err: unknown): string {
  if (err instanceof CirrusError) {
    return `error[${err.code}]: ${err.message}${err.hint === undefined ? '' : `\n  hint: ${err.hint}`}`;
  }
  return `error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`;
}

export async function main(argv: string[], context: CommandContext): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    context.print(help());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === 'version') {
    context.print(VERSION);
    return 0;
  }
  const command = COMMANDS[name];
  try {
    if (command === undefined) {
      throw new UsageError(`unknown command ${JSON.stringify(name)}`, {
        hint: `commands: ${Object.keys(COMMANDS).join(', ')}`,
      });
    }
    return await command.run(rest, context);
  } catch (err) {
    context.log(formatError(err));
    return err instanceof UsageError ? 2 : 1;
  }
}
