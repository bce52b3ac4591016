import { Command, CommanderError } from 'commander';
import { CirrusError, UsageError } from '@cirrus/protocol';
import { VERSION } from '@cirrus/host';
import { appCommand } from './commands/app.ts';
import { buildCommand } from './commands/build.ts';
import { claimsCommand } from './commands/claims.ts';
import { configCommand } from './commands/config.ts';
import { credentialCommand } from './commands/credential.ts';
import { devCommand } from './commands/dev.ts';
import { getCommand } from './commands/get.ts';
import { keysCommand } from './commands/keys.ts';
import { labelCommand } from './commands/label.ts';
import { linkCommand } from './commands/link.ts';
import { newCommand } from './commands/new.ts';
import { scaleCommand } from './commands/scale.ts';
import { startCommand } from './commands/start.ts';
import { stopCommand } from './commands/stop.ts';
import { uiCommand } from './commands/ui.ts';
import { upCommand } from './commands/up.ts';
import { updateCommand } from './commands/update.ts';
import type { CommandContext } from './context.ts';
import { confine, runs } from './program.ts';
import type { CapturedOutput, Invocation } from './program.ts';

const COMMANDS = [
  upCommand,
  appCommand,
  buildCommand,
  devCommand,
  newCommand,
  getCommand,
  scaleCommand,
  startCommand,
  stopCommand,
  updateCommand,
  linkCommand,
  configCommand,
  labelCommand,
  keysCommand,
  claimsCommand,
  credentialCommand,
  uiCommand,
];

const EPILOGUE = `
Lattice commands (get … label) talk to the host that \`cirrus up\` runs on this machine, or to --nats URL.
HOST is a host id, a unique prefix of one, or a friendly name.
Exit codes: 0 success, 1 failure, 2 usage error. Every command and subcommand answers --help.`;

/** The whole command line, defined afresh for each run so that no parse leaves state behind. */
export function createProgram(invocation: Invocation): Command {
  const program = new Command('cirrus')
    .description(`cirrus ${VERSION}: a WebAssembly application platform (wasmCloud 1.x compatible)`)
    .version(VERSION, '-V, --version', 'print the version')
    // Program flags go before the command, so `cirrus up --version` is up's unknown option.
    .enablePositionalOptions()
    .helpCommand('help [command...]', 'describe a command, e.g. cirrus help get hosts')
    .addHelpText('after', EPILOGUE);
  for (const define of COMMANDS) program.addCommand(define(invocation));
  program.addCommand(
    runs(new Command('version').summary('print the version'), invocation, () => {
      invocation.context.print(VERSION);
      return Promise.resolve(0);
    }),
  );
  return program;
}

/** Formats any failure for a terminal: typed errors show their code and how to fix them. */
export function formatError(err: unknown): string {
  if (err instanceof CirrusError) {
    return `error[${err.code}]: ${err.message}${err.hint === undefined ? '' : `\n  hint: ${err.hint}`}`;
  }
  return `error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`;
}

/**
 * `cirrus help get hosts` is `cirrus get hosts --help`. A name that is no command is parsed as a
 * command instead, so it gets commander's "did you mean"; only groups come before it, which run
 * nothing.
 */
function helpArgs(program: Command, names: readonly string[]): string[] {
  let command = program;
  for (const [i, name] of names.entries()) {
    if (command.commands.length === 0) return [...names.slice(0, i), '--help'];
    const sub = command.commands.find((c) => c.name() === name);
    if (sub === undefined) return names.slice(0, i + 1);
    command = sub;
  }
  return [...names, '--help'];
}

function printText(print: (line: string) => void, text: string): void {
  if (text !== '') print(text.replace(/\n$/, ''));
}

export async function main(argv: string[], context: CommandContext): Promise<number> {
  const invocation: Invocation = { context, exitCode: 0 };
  const captured: CapturedOutput = { out: '', err: '' };
  const program = createProgram(invocation);
  confine(program, captured, context.columns);
  const args = argv[0] === 'help' ? helpArgs(program, argv.slice(1)) : argv;
  try {
    await program.parseAsync(args, { from: 'user' });
    return invocation.exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help or version asked for (exit 0), or a bare `cirrus` answered with the help (exit 2).
      printText(context.print, captured.out + captured.err);
      return err.exitCode === 0 ? 0 : 2;
    }
    context.log(formatError(err));
    return err instanceof UsageError ? 2 : 1;
  }
}
