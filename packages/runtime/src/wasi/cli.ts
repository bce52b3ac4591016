import { EMPTY_SOURCE, InputStream } from './io.ts';
import type { OutputStream } from './io.ts';

/** Thrown when a component calls wasi:cli/exit; the call fails and the instance is discarded. */
export class ComponentExit extends Error {
  readonly exitCode: number;

  constructor(exitCode: number) {
    super(`component called wasi:cli/exit with code ${exitCode}`);
    this.exitCode = exitCode;
  }
}

class TerminalInput {}
class TerminalOutput {}

export interface CliContext {
  environment: [string, string][];
  stdout: OutputStream;
  stderr: OutputStream;
}

export function cliImports(ctx: CliContext): Record<string, Record<string, unknown>> {
  const stdin = new InputStream(EMPTY_SOURCE);
  return {
    'wasi:cli/environment': {
      getEnvironment: () => ctx.environment,
      getArguments: () => [],
      initialCwd: () => undefined,
    },
    'wasi:cli/exit': {
      exit: (status: { tag: 'ok' | 'err' }) => {
        throw new ComponentExit(status.tag === 'ok' ? 0 : 1);
      },
      exitWithCode: (code: number) => {
        throw new ComponentExit(code);
      },
    },
    'wasi:cli/stdin': { getStdin: () => stdin },
    'wasi:cli/stdout': { getStdout: () => ctx.stdout },
    'wasi:cli/stderr': { getStderr: () => ctx.stderr },
    'wasi:cli/terminal-input': { TerminalInput },
    'wasi:cli/terminal-output': { TerminalOutput },
    'wasi:cli/terminal-stdin': { getTerminalStdin: () => undefined },
    'wasi:cli/terminal-stdout': { getTerminalStdout: () => undefined },
    'wasi:cli/terminal-stderr': { getTerminalStderr: () => undefined },
  };
}
