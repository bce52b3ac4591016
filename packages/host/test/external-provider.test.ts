/**
 * Capability providers as processes of their own (the 1.x provider protocol) on a real nats-server:
 * the example greeter provider, written with @cirrus/provider-sdk, is started from its file, gets the
 * link a component holds to it with the link's config, answers wRPC calls made on the lattice,
 * reports health, comes back with its links after SIGKILL, and stops through the shutdown request.
 * A host without file loading refuses it, and a program that exits at once fails its start.
 *
 * Measured (reported as test diagnostics): the time from SIGKILL to the first call the restarted
 * process answers, which is the restart pause (`providerRestartMinDelayMs`, 250 ms) plus a Node start.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { wrpcInvoke } from '@cirrus/lattice';
import { connectNats } from '@cirrus/lattice-nats';
import type { NatsLatticeConnection } from '@cirrus/lattice-nats';
import {
  FileLoadDeniedError,
  parseWit,
  ProviderProcessFailedError,
  resolveLimits,
  witInstanceName,
} from '@cirrus/protocol';
import type { LogFields, Logger, WitFunction, WitInterface } from '@cirrus/protocol';
import { freePort, startNatsServer, tempDir, waitFor } from '@cirrus/testing';
import type { NatsServer, TempDir } from '@cirrus/testing';
import { createHost } from '../src/index.ts';
import { parseProviderLogLine, readLines } from '../src/providers/external-output.ts';
import type { Host } from '../src/index.ts';
import { EventLog, httpGet, serveOverHttp, WITH_BUILTINS } from './support.ts';

const GREETER_MAIN = fileURLToPath(
  new URL('../../../examples/greeter-provider/src/main.ts', import.meta.url),
);
/** The interface the greet-client fixture imports: the provider must serve exactly this. */
const GREET_WIT = readFileSync(
  new URL('../../testing/fixtures/greet-wit/greet.wit', import.meta.url),
  'utf8',
);
const GREET = parseWit(GREET_WIT).interfaces[0] as WitInterface;
const INSTANCE = witInstanceName(GREET);
const GREET_CLIENT_WASM = fileURLToPath(
  new URL('../../testing/fixtures/greet-client/build/greet-client.wasm', import.meta.url),
);
const CALL_MS = 2000;
const RESTART_MS = 20_000;

interface LogRecord {
  level: string;
  msg: string;
  fields: LogFields;
}

function recordingLogger(records: LogRecord[], bound: LogFields = {}): Logger {
  const log =
    (level: string) =>
    (msg: string, fields: LogFields = {}): void =>
      void records.push({ level, msg, fields: { ...bound, ...fields } });
  return {
    debug: log('debug'),
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
    child: (fields) => recordingLogger(records, { ...bound, ...fields }),
  };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('providers that run as processes', () => {
  let dir: TempDir;
  let nats: NatsServer;
  let client: NatsLatticeConnection;
  const connections: NatsLatticeConnection[] = [];
  const hosts: Host[] = [];
  let log: EventLog;
  const records: LogRecord[] = [];
  let host: Host;
  let port: number;

  async function newHost(allowFileLoad: boolean): Promise<Host> {
    const conn = await connectNats({ servers: nats.url, name: `host-${hosts.length}` });
    connections.push(conn);
    const created = await createHost({
      ...WITH_BUILTINS,
      lattice: conn,
      cacheDir: join(dir.path, 'cache'),
      allowFileLoad,
      heartbeatIntervalMs: 0,
      logger: recordingLogger(records),
      limits: resolveLimits({
        providerHealthCheckDelayMs: 100,
        providerHealthCheckIntervalMs: 200,
        providerStartAttempts: 2,
      }),
      providerRpc: () => ({ url: nats.url }),
    });
    hosts.push(created);
    return created;
  }

  async function call(name: string, args: unknown[], sourceId = 'client'): Promise<unknown> {
    const [result] = await wrpcInvoke(client, {
      lattice: 'default',
      targetId: 'greeter',
      instance: INSTANCE,
      fn: GREET.functions.get(name) as WitFunction,
      args,
      sourceId,
      linkName: 'default',
      timeoutMs: CALL_MS,
      maxBytes: 1024 * 1024,
    });
    return result;
  }

  /** Pids of the processes the host started for `providerId`, in order (from its log). */
  function pids(providerId: string): number[] {
    return records
      .filter((r) => r.msg === 'provider process started' && r.fields['provider'] === providerId)
      .map((r) => r.fields['pid'] as number);
  }

  before(async () => {
    dir = await tempDir();
    nats = await startNatsServer();
    client = await connectNats({ servers: nats.url, name: 'test-client' });
    log = new EventLog(client);
    host = await newHost(true);
  });

  after(async () => {
    await Promise.all(hosts.map((h) => h.stop()));
    log?.stop();
    await Promise.all(connections.map((conn) => conn.close()));
    await client?.close();
    await nats?.stop();
    await dir?.remove();
  });

  it('starts a provider from its file and serves its exports with the config of the link delivered to it', async (t) => {
    const mark = log.mark;
    const started = performance.now();
    await host.startProvider({ providerRef: pathToFileURL(GREETER_MAIN).href, providerId: 'greeter' });
    t.diagnostic(
      `provider up (answered its first health check) after ${Math.round(performance.now() - started)} ms`,
    );
    const event = await log.next('provider_started', mark, (e) => e.data['provider_id'] === 'greeter');
    assert.equal(event.data['image_ref'], GREETER_MAIN);
    assert.deepEqual(
      host.inventory().providers.map((p) => [p.id, p.name]),
      [['greeter', 'main.ts']],
    );

    await host.putConfig('greeter-hi', { greeting: 'Hi' });
    await host.putLink({
      source_id: 'client',
      target: 'greeter',
      wit_namespace: 'example',
      wit_package: 'greeter',
      interfaces: ['greet'],
      target_config: ['greeter-hi'],
    });
    // The link reaches the process on its own subscription, so a call made from another connection
    // right after putLink may arrive first: wait until the provider greets with the link's config.
    await waitFor(
      async () => (await call('greet', ['Ada'])) === 'Hi, Ada!',
      CALL_MS,
      'the provider to apply the link config',
    );
    assert.equal(
      await call('greet', ['Ada'], 'stranger'),
      'Hello, Ada!',
      'a caller without a link gets the default',
    );
    assert.deepEqual(await call('checked-greet', ['']), { tag: 'err', val: 'a name is required' });
    assert.deepEqual(await call('checked-greet', ['Bo']), { tag: 'ok', val: 'Hi, Bo!' });

    // A component's import reaches it through the link, typed from the component's binary.
    await host.scaleComponent({ componentRef: GREET_CLIENT_WASM, componentId: 'client', count: 1 });
    port = await freePort();
    await serveOverHttp(host, 'client', port);
    assert.deepEqual(await httpGet(port, '/Ada'), { status: 200, body: 'Hi, Ada!\n' });
    assert.deepEqual(await httpGet(port, '/checked/'), {
      status: 422,
      body: 'refused: a name is required\n',
    });

    // The provider's own JSON log lines reach the host's log with their fields and the pid.
    const [pid] = pids('greeter');
    const forwarded = await waitFor(
      () => records.find((r) => r.msg === 'link received' && r.fields['pid'] === pid),
      CALL_MS,
      "the provider's log line about the link",
    );
    assert.equal(forwarded.level, 'info');
    assert.equal(forwarded.fields['source_id'], 'client');
    assert.equal(forwarded.fields['stream'], 'stderr');
  });

  it('health checks publish health_check_passed once, then health_check_status while nothing changes', async () => {
    const passed = await log.next('health_check_passed', 0, (e) => e.data['provider_id'] === 'greeter');
    assert.deepEqual(passed.data, { host_id: host.id, provider_id: 'greeter' });
    await log.next('health_check_status', 0, (e) => e.data['provider_id'] === 'greeter');
    assert.equal(log.since(0, 'health_check_passed').length, 1);
    assert.equal(log.since(0, 'health_check_failed').length, 0);
  });

  it('restarts a process killed with SIGKILL, with the link and its config delivered again', async (t) => {
    const [pid] = pids('greeter');
    assert.ok(pid !== undefined && isAlive(pid));
    const mark = log.mark;
    const killed = performance.now();
    process.kill(pid, 'SIGKILL');
    const answer = await waitFor(
      async () => {
        if (pids('greeter').length < 2) return false;
        return call('greet', ['Ada']).catch(() => false);
      },
      RESTART_MS,
      'a call answered by the restarted provider',
    );
    const restartMs = Math.round(performance.now() - killed);
    t.diagnostic(`SIGKILL to the first answered call: ${restartMs} ms`);
    assert.equal(answer, 'Hi, Ada!', 'the link config came back with the HostData of the new process');
    assert.deepEqual(await httpGet(port, '/Grace'), { status: 200, body: 'Hi, Grace!\n' });
    assert.equal(isAlive(pid), false);
    const restarted = pids('greeter')[1] as number;
    assert.notEqual(restarted, pid);
    assert.ok(isAlive(restarted));

    await log.next('health_check_failed', mark, (e) => e.data['provider_id'] === 'greeter');
    await log.next('health_check_passed', mark, (e) => e.data['provider_id'] === 'greeter');
    const exit = records.find(
      (r) => r.msg === 'provider process exited; restarting it' && r.fields['pid'] === pid,
    );
    assert.equal(exit?.fields['exit'], 'was killed by SIGKILL');
    assert.equal(exit?.fields['restart_in_ms'], 250);
  });

  it('stops the process through the shutdown request and publishes provider_stopped', async () => {
    const pid = pids('greeter').at(-1) as number;
    const mark = log.mark;
    await host.stopProvider('greeter');
    assert.equal(isAlive(pid), false, 'the process is gone once stop resolves');
    const stopped = await log.next('provider_stopped', mark, (e) => e.data['provider_id'] === 'greeter');
    assert.equal(stopped.data['reason'], 'stop');
    assert.deepEqual(
      host.inventory().providers.map((p) => p.id),
      ['web'],
    );
    await waitFor(
      () => records.some((r) => r.msg === 'shutdown requested by the host' && r.fields['pid'] === pid),
      CALL_MS,
      'the provider to log the shutdown request',
    );
    assert.equal(records.filter((r) => r.msg.includes('SIGTERM')).length, 0, 'no signal was needed');
    await assert.rejects(call('greet', ['Ada']), 'nothing answers any more');
  });

  it('refuses a file reference with FILE_LOAD_DENIED on a host that does not load files', async () => {
    const strict = await newHost(false);
    const mark = log.mark;
    await assert.rejects(
      strict.startProvider({ providerRef: pathToFileURL(GREETER_MAIN).href, providerId: 'denied' }),
      FileLoadDeniedError,
    );
    const failed = await log.next('provider_start_failed', mark, (e) => e.data['provider_id'] === 'denied');
    assert.match(failed.data['error'] as string, /^FILE_LOAD_DENIED: /);
    assert.deepEqual(pids('denied'), [], 'nothing was spawned');
  });

  it('fails the start with provider_start_failed when the program exits at once, after providerStartAttempts tries', async () => {
    const program = join(dir.path, 'exits.mjs');
    await writeFile(program, "process.stderr.write('cannot open the device\\n');\nprocess.exit(3);\n");
    const mark = log.mark;
    await assert.rejects(
      host.startProvider({ providerRef: pathToFileURL(program).href, providerId: 'broken' }),
      (err: unknown) =>
        err instanceof ProviderProcessFailedError &&
        /exited with code 3 before it answered a health check; last output: cannot open the device/.test(
          err.message,
        ),
    );
    const failed = await log.next('provider_start_failed', mark, (e) => e.data['provider_id'] === 'broken');
    assert.match(failed.data['error'] as string, /^PROVIDER_PROCESS_FAILED: /);
    assert.equal(failed.data['provider_ref'], pathToFileURL(program).href);
    assert.equal(pids('broken').length, 2, 'one process per attempt');
    assert.equal(host.hasProvider('broken'), false);
    const text = records.find((r) => r.msg === 'cannot open the device');
    assert.equal(text?.level, 'warn', 'text on stderr is logged as a warning');
  });
});

describe('provider output in the host log', () => {
  it('cuts lines at the byte limit without buffering the rest, and keeps a last line without newline', async () => {
    const stream = new PassThrough();
    const lines: string[] = [];
    readLines(stream, 16, (line) => lines.push(line));
    stream.write('one\r\ntw');
    stream.write(`o\n${'x'.repeat(40)}`);
    stream.write(`${'y'.repeat(40)}\nlast`);
    stream.end();
    await new Promise((resolve) => stream.on('end', resolve));
    assert.deepEqual(lines, ['one', 'two', `${'x'.repeat(16)}…`, 'last']);
  });

  it("keeps the level, message and fields of the SDK's JSON lines and of Rust tracing JSON", () => {
    assert.deepEqual(
      parseProviderLogLine('{"time":"t","level":"error","msg":"boom","source_id":"client"}', 'warn'),
      { level: 'error', message: 'boom', fields: { source_id: 'client' } },
    );
    assert.deepEqual(
      parseProviderLogLine(
        '{"timestamp":"t","level":"WARN","fields":{"message":"slow","ms":12},"target":"kv"}',
        'info',
      ),
      { level: 'warn', message: 'slow', fields: { ms: 12, target: 'kv' } },
    );
  });

  it('gives a provider no way to forge host log lines or fields', () => {
    const text = parseProviderLogLine('fine\u001b[2J\rINFO host stopped', 'warn');
    assert.deepEqual(text, { level: 'warn', message: 'fine\\u001b[2J\\rINFO host stopped', fields: {} });
    const json = parseProviderLogLine(
      JSON.stringify({ level: 'info', msg: 'a\nb', provider: 'other', 'bad key\n': 1, ok_key: 2 }),
      'warn',
    );
    assert.deepEqual(json, { level: 'info', message: 'a\\nb', fields: { ok_key: 2 } });
  });
});
