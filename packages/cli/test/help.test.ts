/**
 * Every command and subcommand explains itself: `--help` and `-h` print its usage, each flag with a
 * description and each positional, on stdout with exit code 0. The list of commands and flags comes
 * from the program definition, so a command added later is held to the same rule. Typos get a
 * suggestion, and commander never writes to the process's streams or exits it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Command } from 'commander';
import { VERSION } from '@cirrus/host';
import { main } from '../src/index.ts';
import { createProgram } from '../src/main.ts';
import { harness } from './support.ts';

interface Run {
  code: number;
  out: string;
  err: string;
}

async function cirrus(...argv: string[]): Promise<Run> {
  const h = harness({});
  const code = await main(argv, h.context);
  return { code, out: h.out.join('\n'), err: h.err.join('\n') };
}

/** Every command below `command`, with the words that name it on the command line. */
function* walk(command: Command, path: string[] = []): Generator<[string[], Command]> {
  yield [path, command];
  for (const sub of command.commands) yield* walk(sub, [...path, sub.name()]);
}

const PROGRAM = createProgram({ context: harness({}).context, exitCode: 0 });

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A help line: the term, at least two spaces, then a description. */
function describedLine(term: string): RegExp {
  return new RegExp(`^ {2}${escape(term)} {2,}\\S`, 'm');
}

describe('cirrus --help', () => {
  for (const [path, command] of walk(PROGRAM)) {
    const name = ['cirrus', ...path].join(' ');
    it(`${name} answers --help and -h with its usage and every flag and argument described`, async () => {
      for (const flag of ['--help', '-h']) {
        const run = await cirrus(...path, flag);
        assert.deepEqual([run.code, run.err], [0, ''], `${name} ${flag}`);
        assert.match(run.out, new RegExp(`^Usage: ${escape(name)} `), `${name} ${flag}`);
        for (const option of command.options) {
          assert.ok(option.description !== '', `${name}: ${option.flags} has a description`);
          assert.match(run.out, describedLine(option.flags), `${name} ${flag} explains ${option.flags}`);
        }
        assert.match(run.out, describedLine('-h, --help'));
        for (const argument of command.registeredArguments) {
          assert.ok(argument.description !== '', `${name}: ${argument.name()} has a description`);
          assert.match(
            run.out,
            describedLine(argument.name()),
            `${name} ${flag} explains ${argument.name()}`,
          );
        }
        for (const sub of command.commands) {
          assert.match(
            run.out,
            new RegExp(`^ {2}${escape(sub.name())}\\b.* {2,}\\S`, 'm'),
            `${name} lists ${sub.name()}`,
          );
        }
      }
    });
  }

  it('cirrus help, cirrus help COMMAND… and cirrus --help print the same help as --help does', async () => {
    const top = await cirrus('--help');
    assert.deepEqual(await cirrus('help'), top);
    for (const [path] of walk(PROGRAM)) {
      if (path.length === 0) continue;
      const expected = await cirrus(...path, '--help');
      assert.deepEqual(await cirrus('help', ...path), expected, `cirrus help ${path.join(' ')}`);
    }
  });

  it('cirrus up --help lists the host, security, policy and NATS flags', async () => {
    const { code, out } = await cirrus('up', '--help');
    assert.equal(code, 0);
    for (const flag of [
      '--app <FILE>',
      '--local-port <N>',
      '--no-local-endpoint',
      '--host-seed <FILE>',
      '--require-signed',
      '--allowed-issuer <KEY>',
      '--sign-invocations',
      '--require-signed-invocations',
      '--cluster-issuer <KEY>',
      '--cluster-seed <FILE>',
      '--host-credential <FILE>',
      '--policy-topic <SUBJECT>',
      '--nats <URL>',
      '--nats-creds <FILE>',
      '--nats-password-file <FILE>',
      '--nats-tls-ca <FILE>',
      '--ctl-nats <URL>',
      '--ctl-nkey <FILE>',
      '--rpc-nats <URL>',
      '--rpc-tls-first',
    ]) {
      assert.match(out, describedLine(flag), flag);
    }
    assert.match(out, /--heartbeat-interval <S> +.*\(default: 30\)/);
  });

  it('a bare cirrus prints the help and exits 2; --version and version print the version', async () => {
    const bare = await cirrus();
    assert.equal(bare.code, 2);
    assert.match(bare.out, /^Usage: cirrus /);
    assert.deepEqual(await cirrus('--version'), { code: 0, out: VERSION, err: '' });
    assert.deepEqual(await cirrus('version'), { code: 0, out: VERSION, err: '' });
  });
});

describe('cirrus typos', () => {
  it('suggest the nearest command, subcommand or option, as a usage error with exit code 2', async () => {
    const cases: [string[], string][] = [
      [['uo'], 'error[USAGE_ERROR]: unknown command "uo"\n  hint: did you mean one of ui, up?'],
      [['help', 'uo'], 'error[USAGE_ERROR]: unknown command "uo"\n  hint: did you mean one of ui, up?'],
      [['get', 'hots'], 'error[USAGE_ERROR]: unknown subcommand "get hots"\n  hint: did you mean get hosts?'],
      [
        ['claims', 'sing'],
        'error[USAGE_ERROR]: unknown subcommand "claims sing"\n  hint: did you mean claims sign?',
      ],
      [
        ['up', '--ap', 'x'],
        'error[USAGE_ERROR]: unknown option --ap for cirrus up\n  hint: did you mean --app?',
      ],
      [
        ['link', 'put', 's', 't', 'ns', 'pkg', '--intreface', 'i'],
        'error[USAGE_ERROR]: unknown option --intreface for cirrus link put\n  hint: did you mean --interface?',
      ],
    ];
    for (const [argv, expected] of cases) {
      const run = await cirrus(...argv);
      assert.deepEqual(run, { code: 2, out: '', err: expected }, argv.join(' '));
    }
  });

  it('name what is missing or extra, with the usage line in the hint', async () => {
    const missing = await cirrus('link', 'put', 'a', 'b');
    assert.equal(missing.code, 2);
    assert.equal(
      missing.err,
      'error[USAGE_ERROR]: missing NAMESPACE PACKAGE\n' +
        '  hint: usage: cirrus link put [options] <SOURCE> <TARGET> <NAMESPACE> <PACKAGE> (cirrus link put --help explains each flag)',
    );
    const noValue = await cirrus('up', '--app');
    assert.equal(noValue.code, 2);
    assert.match(
      noValue.err,
      /^error\[USAGE_ERROR\]: --app <FILE> needs a value\n {2}hint: usage: cirrus up /,
    );
    const extra = await cirrus('up', 'extra');
    assert.equal(extra.code, 2);
    assert.match(extra.err, /^error\[USAGE_ERROR\]: unexpected argument "extra"/);
  });
});

describe('commander inside main', () => {
  it('never writes to process.stdout or process.stderr, nor calls process.exit', async (t) => {
    // The originals still run: the test runner reports through these streams.
    const stdout = t.mock.method(process.stdout, 'write');
    const stderr = t.mock.method(process.stderr, 'write');
    const exit = t.mock.method(process, 'exit', () => {
      throw new Error('process.exit called');
    });
    for (const argv of [[], ['--help'], ['up', '-h'], ['--version'], ['uo'], ['get'], ['up', '--ap', 'x']]) {
      await cirrus(...argv);
    }
    const written = [...stdout.mock.calls, ...stderr.mock.calls].map((call) => String(call.arguments[0]));
    const ours = written.filter(
      (chunk) =>
        chunk.startsWith(VERSION) ||
        /Usage: cirrus|unknown (command|option)|needs one of|did you mean/i.test(chunk),
    );
    assert.deepEqual(ours, []);
    assert.equal(exit.mock.callCount(), 0);
  });
});
