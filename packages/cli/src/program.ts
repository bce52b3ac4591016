/**
 * What ties commander to the CLI's contract: actions report exit codes, commander's parse errors
 * become USAGE_ERROR with a hint, and nothing reaches process.stdout, process.stderr or
 * process.exit except through the CommandContext.
 */
import { Command } from 'commander';
import type { CommanderError } from 'commander';
import { UsageError } from '@cirrus/protocol';
import { commandPath, usageHint } from './args.ts';
import type { CommandContext } from './context.ts';

/** What a command definition gets from `main`: the context, and where its action leaves the exit code. */
export interface Invocation {
  readonly context: CommandContext;
  exitCode: number;
}

/** Makes `run` the action of `command`; what it returns is the exit code. */
export function runs(command: Command, invocation: Invocation, run: () => Promise<number>): Command {
  return command.action(async () => {
    invocation.exitCode = await run();
  });
}

/** Help and version text commander wrote, for `main` to print once parsing is over. */
export interface CapturedOutput {
  out: string;
  err: string;
}

/** `(Did you mean up?)` on the line after commander's message: commander found the nearest name. */
function suggestionOf(err: CommanderError): string | undefined {
  return /\n\(Did you mean (.*)\?\)/.exec(err.message)?.[1];
}

function subcommandNames(command: Command): string {
  return command.commands.map((c) => c.name()).join(', ');
}

/** Commander's parse error, restated as the CLI says it: what was wrong, and how to fix it. */
function usageErrorOf(command: Command, err: CommanderError): UsageError {
  const suggestion = suggestionOf(err);
  const path = commandPath(command);
  switch (err.code) {
    case 'commander.unknownCommand': {
      const name = command.args[0] ?? '';
      if (command.parent === null) {
        return new UsageError(`unknown command ${JSON.stringify(name)}`, {
          hint:
            suggestion === undefined
              ? `commands: ${subcommandNames(command)}`
              : `did you mean ${suggestion}?`,
        });
      }
      const group = path.slice(path.indexOf(' ') + 1);
      return new UsageError(`unknown subcommand "${group} ${name}"`, {
        hint:
          suggestion === undefined
            ? `one of: ${subcommandNames(command)}`
            : `did you mean ${group} ${suggestion}?`,
      });
    }
    case 'commander.unknownOption': {
      const flag = /unknown option '(.*)'/.exec(err.message)?.[1] ?? '';
      return new UsageError(`unknown option ${flag} for ${path}`, {
        hint: suggestion === undefined ? `${path} --help lists its options` : `did you mean ${suggestion}?`,
      });
    }
    case 'commander.optionMissingArgument': {
      const term = /option '(.*)' argument missing/.exec(err.message)?.[1] ?? '';
      return new UsageError(`${term} needs a value`, { hint: usageHint(command) });
    }
    case 'commander.missingArgument': {
      const missing = command.registeredArguments
        .filter((argument, i) => argument.required && command.args[i] === undefined)
        .map((argument) => argument.name());
      return new UsageError(`missing ${missing.join(' ')}`, { hint: usageHint(command) });
    }
    case 'commander.excessArguments': {
      const extra = command.args[command.registeredArguments.length];
      return new UsageError(`unexpected argument ${JSON.stringify(extra)}`, { hint: usageHint(command) });
    }
    case 'commander.help': {
      // Help as an error: a group such as `cirrus get` was given no subcommand.
      const usages = command.commands.map((sub) => `    ${commandPath(sub)} ${sub.usage()}`).join('\n');
      return new UsageError(`${path} needs one of: ${subcommandNames(command)}`, {
        hint: `usage:\n${usages}`,
      });
    }
    default:
      return new UsageError(err.message.replace(/^error: /, '').split('\n')[0] ?? err.message, {
        hint: usageHint(command),
      });
  }
}

/**
 * Routes commander's output of `command` and its subcommands into `captured`, and turns its exits
 * into throws: a CommanderError with exit code 0 for help and version shown, a UsageError for a
 * wrong command line, and for a bare `cirrus` (help shown for want of a command) the CommanderError.
 */
export function confine(command: Command, captured: CapturedOutput, columns: number | undefined): void {
  // Without a terminal, help is not wrapped: one line per flag, whatever the length.
  const width = (): number => columns ?? Number.POSITIVE_INFINITY;
  command
    .configureOutput({
      writeOut: (text) => void (captured.out += text),
      writeErr: (text) => void (captured.err += text),
      outputError: () => undefined,
      getOutHelpWidth: width,
      getErrHelpWidth: width,
      getOutHasColors: () => false,
      getErrHasColors: () => false,
    })
    .exitOverride((err) => {
      if (err.exitCode === 0 || (err.code === 'commander.help' && command.parent === null)) throw err;
      throw usageErrorOf(command, err);
    });
  for (const sub of command.commands) confine(sub, captured, columns);
}

/** The description of a command that has only its summary: the summary as a sentence. */
export function sentence(summary: string): string {
  return `${summary.charAt(0).toUpperCase()}${summary.slice(1)}.`;
}

/** A command that only groups subcommands, such as `cirrus get`. */
export function commandGroup(name: string, summary: string, subcommands: readonly Command[]): Command {
  const group = new Command(name).summary(summary).description(sentence(summary)).helpCommand(false);
  for (const sub of subcommands) group.addCommand(sub);
  return group;
}
