import { CirrusError, UsageError } from '@cirrus/protocol';
import { VERSION } from '@cirrus/host';
import { BUILD_USAGE, buildCommand } from './commands/build.ts';
import { CLAIMS_USAGE, claims } from './commands/claims.ts';
import { CONFIG_USAGE, config } from './commands/config.ts';
import { CREDENTIAL_USAGE, credential } from './commands/credential.ts';
import { GET_USAGE, get } from './commands/get.ts';
import { KEYS_USAGE, keys } from './commands/keys.ts';
import { LABEL_USAGE, label } from './commands/label.ts';
import { COMMON_FLAGS } from './commands/lattice.ts';
import { LINK_USAGE, link } from './commands/link.ts';
import { SCALE_USAGE, scale } from './commands/scale.ts';
import { START_USAGE, start } from './commands/start.ts';
import { STOP_USAGE, stop } from './commands/stop.ts';
import { UP_USAGE, up } from './commands/up.ts';
import { UPDATE_USAGE, update } from './commands/update.ts';
import type { CommandContext } from './context.ts';

type Command = (argv: string[], context: CommandContext) => Promise<number>;

const COMMANDS: Record<string, { run: Command; usage: string; summary: string }> = {
  up: { run: up, usage: UP_USAGE, summary: 'start a host on the embedded lattice and deploy an application' },
  build: {
    run: buildCommand,
    usage: BUILD_USAGE,
    summary: 'build a TypeScript component project into a component',
  },
  get: {
    run: get,
    usage: GET_USAGE,
    summary: 'show hosts, inventories, links, config or claims; follow events',
  },
  scale: { run: scale, usage: SCALE_USAGE, summary: 'run a number of instances of a component on a host' },
  start: { run: start, usage: START_USAGE, summary: 'start a capability provider on a host' },
  stop: { run: stop, usage: STOP_USAGE, summary: 'stop a component, a provider or a host' },
  update: { run: update, usage: UPDATE_USAGE, summary: 'replace the image of a running component' },
  link: { run: link, usage: LINK_USAGE, summary: 'put or delete a link between components and providers' },
  config: { run: config, usage: CONFIG_USAGE, summary: 'put or delete named config' },
  label: { run: label, usage: LABEL_USAGE, summary: 'put or delete a host label' },
  keys: { run: keys, usage: KEYS_USAGE, summary: 'generate a key; the seed goes to a user-only file' },
  claims: { run: claims, usage: CLAIMS_USAGE, summary: 'sign a component, or inspect its claims' },
  credential: {
    run: credential,
    usage: CREDENTIAL_USAGE,
    summary: 'issue a host credential for signed invocations, or inspect one',
  },
};

/** Help for the flags every lattice command shares, printed once instead of after each usage line. */
const LATTICE_FLAGS_HELP = `Lattice commands (get … label) talk to the local host started by \`cirrus up\`, or to --nats URL:
  --nats URL       NATS server of the lattice (nats://host:port; tls://host:port requires TLS)
  --nats-creds FILE | --nats-nkey FILE | --nats-token-file FILE | --nats-user NAME --nats-password-file FILE
                   credentials (or $CIRRUS_NATS_TOKEN, $CIRRUS_NATS_PASSWORD); never on the command line
  --nats-tls --nats-tls-ca FILE --nats-tls-cert FILE --nats-tls-key FILE --nats-tls-server-name NAME --nats-tls-first
                   TLS: required, the server's CA, a client certificate and key, the expected name, TLS first
  --lattice NAME   lattice name (default "default")
  --timeout MS     reply deadline and host.ping window (default 2000)
  --output FORMAT  table (default) or json
HOST is a host id, a unique prefix of one, or a friendly name.`;

function help(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => {
    const usage = c.usage
      .split('\n')
      .map((line) => `           ${line.replace(` ${COMMON_FLAGS}`, '')}`)
      .join('\n');
    return `  ${name.padEnd(8)} ${c.summary}\n${usage}`;
  });
  return `cirrus ${VERSION}: a WebAssembly application platform (wasmCloud 1.x compatible)\n\nCommands:\n${lines.join('\n')}\n\n${LATTICE_FLAGS_HELP}`;
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
