/** What a command may touch, so commands run the same from the binary and from tests. */
export interface CommandContext {
  /** A line for the user (stdout). */
  print: (line: string) => void;
  /** A log line (stderr). */
  log: (line: string) => void;
  env: Readonly<Record<string, string | undefined>>;
  signals: Pick<NodeJS.Process, 'on' | 'off'>;
  exit: (code: number) => void;
  /** Width of the terminal stdout goes to, for wrapping help; undefined when it is not a terminal. */
  columns?: number | undefined;
}

export function processContext(): CommandContext {
  return {
    print: (line) => process.stdout.write(`${line}\n`),
    log: (line) => process.stderr.write(`${line}\n`),
    env: process.env,
    signals: process,
    exit: (code) => process.exit(code),
    columns: process.stdout.isTTY ? process.stdout.columns : undefined,
  };
}
