/**
 * Streams and futures over wRPC, run against every lattice adapter: both directions, flow control
 * with bounded memory, failures on either side, deadlines, and tiny messages.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestContext } from 'node:test';
import { waitFor, withDeadline } from '@cirrus/testing';
import { parseWitInterface, silentLogger, WrpcStreamCancelledError } from '@cirrus/protocol';
import type { Logger, WitFunction } from '@cirrus/protocol';
import { wrpcInvoke, wrpcServe } from '../src/index.ts';
import type { LatticeConnection, Subscription, WrpcCaller, WrpcStreamLimits } from '../src/index.ts';
import {
  codeOf,
  KiB,
  MemoryWatch,
  MiB,
  mib,
  PatternBody,
  readAll,
  readPattern,
  sleep,
  unique,
} from './wrpc-kit.ts';
import type { WrpcSetup, WrpcTarget } from './wrpc-kit.ts';

const API = parseWitInterface(`package test:streams@0.1.0;
interface api {
  type fields = list<tuple<string, string>>;
  record msg { body: stream<u8>, trailers: future<option<fields>> }
  record part { name: string, data: stream<u8> }
  upload: func(data: stream<u8>) -> u64;
  download: func(size: u64) -> stream<u8>;
  words: func(n: u32) -> stream<string>;
  sum: func(numbers: stream<u32>) -> u64;
  later: func(x: future<string>) -> future<u32>;
  relay: func(m: msg) -> msg;
  parts: func(n: u32) -> stream<part>;
  blob: func(head: list<u8>, data: stream<u8>) -> tuple<u32, u64>;
  echo: func(data: list<u8>) -> list<u8>;
}`);
const INSTANCE = 'test:streams/api@0.1.0';
const LATTICE = 'default';
const fnOf = (name: string): WitFunction => API.functions.get(name) as WitFunction;

type Handle = (args: unknown[], caller: WrpcCaller) => Promise<unknown[]>;

interface Peers {
  server: LatticeConnection;
  client: LatticeConnection;
  target: WrpcTarget;
}

/** Serves `handlers` under a fresh id; returns the id to call. */
function serve(
  peers: Peers,
  handlers: Record<string, Handle>,
  options: { streamLimits?: Partial<WrpcStreamLimits>; logger?: Logger } = {},
): { id: string; sub: Subscription } {
  const id = unique();
  const sub = wrpcServe(peers.server, {
    lattice: LATTICE,
    id,
    instance: INSTANCE,
    handlers: new Map(Object.entries(handlers).map(([name, handle]) => [name, { fn: fnOf(name), handle }])),
    logger: options.logger ?? silentLogger,
    maxBytes: 16 * MiB,
    maxPayload: peers.server.maxPayload,
    timeoutMs: 5_000,
    ...(options.streamLimits === undefined ? {} : { streamLimits: options.streamLimits }),
  });
  return { id, sub };
}

function call(
  peers: Peers,
  id: string,
  name: string,
  args: unknown[],
  options: { streamLimits?: Partial<WrpcStreamLimits>; signal?: AbortSignal; timeoutMs?: number } = {},
): Promise<unknown[]> {
  return wrpcInvoke(peers.client, {
    lattice: LATTICE,
    targetId: id,
    instance: INSTANCE,
    fn: fnOf(name),
    args,
    sourceId: 'client',
    linkName: 'default',
    timeoutMs: options.timeoutMs ?? 5_000,
    maxBytes: 16 * MiB,
    signal: options.signal,
    streamLimits: options.streamLimits,
  });
}

/** An async iterable that yields `chunks` and records whether it was stopped early. */
function tracked<T>(chunks: Iterable<T> | (() => AsyncIterator<T>)): AsyncIterable<T> & { stopped: boolean } {
  const out = {
    stopped: false,
    async *[Symbol.asyncIterator](): AsyncIterator<T> {
      let completed = false;
      try {
        if (typeof chunks === 'function') {
          const it = chunks();
          for (let next = await it.next(); next.done !== true; next = await it.next()) yield next.value;
        } else {
          for (const chunk of chunks) yield chunk;
        }
        completed = true;
      } finally {
        if (!completed) out.stopped = true;
      }
    },
  };
  return out;
}

/** An endless stream<u8> producer. */
function endless(chunk = 16 * KiB): AsyncIterable<Uint8Array> & { stopped: boolean; produced: number } {
  const out = {
    stopped: false,
    produced: 0,
    async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
      try {
        for (;;) {
          out.produced += chunk;
          yield new Uint8Array(chunk).fill(1);
        }
      } finally {
        out.stopped = true;
      }
    },
  };
  return out;
}

export function wrpcStreamSuite(adapter: string, setup: WrpcSetup): void {
  describe(`wRPC streams and futures: ${adapter}`, () => {
    const peers = {} as Peers;
    let baseline = 0;

    before(async () => {
      peers.target = await setup({});
      peers.server = await peers.target.connect();
      peers.client = await peers.target.connect();
      // Each connection's inbox subscription is made on its first call (the server's on the first
      // call with streams it serves); count them in the baseline.
      const { id, sub } = serve(peers, {
        echo: async (args) => args,
        sum: async ([numbers]) => {
          let total = 0n;
          for await (const chunk of numbers as AsyncIterable<Uint32Array>) {
            for (const n of chunk) total += BigInt(n);
          }
          return [total];
        },
      });
      await peers.server.flush();
      await call(peers, id, 'echo', [new Uint8Array(1)]);
      await call(peers, id, 'sum', [[1, 2]]);
      sub.unsubscribe();
      baseline = peers.target.subscriptionCount?.() ?? 0;
    });

    after(async () => {
      await peers.client.close();
      await peers.server.close();
      await peers.target.teardown();
    });

    /** Every call's subscriptions are gone once its streams ended (only the served ones remain). */
    async function assertNoLeftovers(served: Subscription[]): Promise<void> {
      for (const sub of served) sub.unsubscribe();
      const count = peers.target.subscriptionCount;
      if (count !== undefined) {
        await waitFor(
          () => count() === baseline,
          2_000,
          `subscriptions back to ${baseline} (now ${count()})`,
        );
      }
    }

    it('streams a 16 MiB stream<u8> parameter with the producer never more than a window ahead', async (t: TestContext) => {
      const body = new PatternBody(16 * MiB);
      const watch = new MemoryWatch();
      let lead = 0;
      const { id, sub } = serve(peers, {
        upload: async ([data]) => {
          const total = await readPattern(data as AsyncIterable<Uint8Array>, async (got) => {
            lead = Math.max(lead, body.produced - got);
            // A slow consumer: without flow control the producer would run away from it.
            if (got % (256 * KiB) === 0) await sleep(2);
            if (got % MiB === 0) watch.sample();
          });
          return [BigInt(total)];
        },
      });
      await peers.server.flush();
      const started = performance.now();
      const [total] = await withDeadline(call(peers, id, 'upload', [body]), 60_000, '16 MiB upload');
      const ms = performance.now() - started;
      assert.equal(total, BigInt(16 * MiB));
      t.diagnostic(
        `16 MiB parameter: ${ms.toFixed(0)} ms, retained peak ${mib(watch.peak)}, lead ${mib(lead)}`,
      );
      // Window (1 MiB) + the chunk being written + the message being read.
      assert.ok(lead <= MiB + 64 * KiB + peers.client.maxPayload, `the producer ran ${mib(lead)} ahead`);
      assert.ok(watch.peak < 6 * MiB, `retained ${mib(watch.peak)} while streaming 16 MiB (window 1 MiB)`);
      await assertNoLeftovers([sub]);
    });

    it('streams a 16 MiB stream<u8> result with the producer never more than a window ahead', async (t: TestContext) => {
      let body: PatternBody | undefined;
      const { id, sub } = serve(peers, {
        download: async ([size]) => {
          body = new PatternBody(Number(size));
          return [body];
        },
      });
      await peers.server.flush();
      const started = performance.now();
      const [stream] = await call(peers, id, 'download', [BigInt(16 * MiB)]);
      const watch = new MemoryWatch();
      let lead = 0;
      const total = await withDeadline(
        readPattern(stream as AsyncIterable<Uint8Array>, async (got) => {
          lead = Math.max(lead, (body as PatternBody).produced - got);
          if (got % (256 * KiB) === 0) await sleep(2);
          if (got % MiB === 0) watch.sample();
        }),
        60_000,
        '16 MiB download',
      );
      const ms = performance.now() - started;
      assert.equal(total, 16 * MiB);
      t.diagnostic(`16 MiB result: ${ms.toFixed(0)} ms, retained peak ${mib(watch.peak)}, lead ${mib(lead)}`);
      assert.ok(lead <= MiB + 64 * KiB + peers.client.maxPayload, `the producer ran ${mib(lead)} ahead`);
      assert.ok(watch.peak < 6 * MiB, `retained ${mib(watch.peak)} while streaming 16 MiB (window 1 MiB)`);
      await assertNoLeftovers([sub]);
    });

    it('keeps 1,000 small chunks of a stream<string> result and a stream<u32> parameter in order', async () => {
      const { id, sub } = serve(peers, {
        words: async ([n]) => [
          tracked(
            Array.from({ length: n as number }, (_, i) => [`w${i}`, ...(i % 3 === 0 ? [`x${i}`] : [])]),
          ),
        ],
        sum: async ([numbers]) => {
          let sum = 0n;
          let chunks = 0;
          for await (const chunk of numbers as AsyncIterable<Uint32Array>) {
            chunks += 1;
            for (const n of chunk) sum += BigInt(n);
          }
          assert.equal(chunks, 1_000, 'chunks arrive as they were produced (u32 chunks are not split)');
          return [sum];
        },
      });
      await peers.server.flush();
      const [stream] = await call(peers, id, 'words', [1_000]);
      const got: string[] = [];
      let chunks = 0;
      await withDeadline(
        (async () => {
          for await (const chunk of stream as AsyncIterable<string[]>) {
            chunks += 1;
            got.push(...chunk);
          }
        })(),
        10_000,
        '1,000 chunks',
      );
      const expected = Array.from({ length: 1_000 }, (_, i) => [
        `w${i}`,
        ...(i % 3 === 0 ? [`x${i}`] : []),
      ]).flat();
      assert.deepEqual(got, expected);
      assert.equal(chunks, 1_000);
      const [sum] = await call(peers, id, 'sum', [
        tracked(Array.from({ length: 1_000 }, (_, i) => [i, i + 1])),
      ]);
      assert.equal(sum, BigInt(1_000 * 1_000));
      await assertNoLeftovers([sub]);
    });

    it('passes futures both ways, resolved later and at once', async () => {
      const { id, sub } = serve(peers, {
        later: async ([x]) => [(x as Promise<string>).then((s) => s.length)],
      });
      await peers.server.flush();
      let resolve!: (s: string) => void;
      const [late] = await call(peers, id, 'later', [new Promise<string>((r) => (resolve = r))]);
      setTimeout(() => resolve('twelve chars'), 50);
      assert.equal(await withDeadline(late as Promise<number>, 5_000, 'the later future'), 12);
      const [ready] = await call(peers, id, 'later', [{ tag: 'ready', val: 'abc' }]);
      assert.equal(await withDeadline(ready as Promise<number>, 5_000, 'the ready future'), 3);
      await assertNoLeftovers([sub]);
    });

    it('carries a stream and a future nested in a record, both ways', async () => {
      const { id, sub } = serve(peers, {
        relay: async ([m]) => {
          const { body, trailers } = m as {
            body: AsyncIterable<Uint8Array>;
            trailers: Promise<[string, string][]>;
          };
          async function* upper(): AsyncIterable<Uint8Array> {
            for await (const chunk of body) yield chunk.map((b) => (b >= 97 && b <= 122 ? b - 32 : b));
          }
          return [{ body: upper(), trailers: trailers.then((t) => [...(t ?? []), ['relayed', 'yes']]) }];
        },
      });
      await peers.server.flush();
      const text = new TextEncoder();
      const [m] = await call(peers, id, 'relay', [
        {
          body: tracked([text.encode('hello '), text.encode('streaming '), text.encode('world')]),
          trailers: Promise.resolve([['checksum', 'abc']]),
        },
      ]);
      const { body, trailers } = m as {
        body: AsyncIterable<Uint8Array>;
        trailers: Promise<[string, string][]>;
      };
      assert.equal(
        new TextDecoder().decode(await withDeadline(readAll(body), 5_000, 'the relayed body')),
        'HELLO STREAMING WORLD',
      );
      assert.deepEqual(await withDeadline(trailers, 5_000, 'trailers'), [
        ['checksum', 'abc'],
        ['relayed', 'yes'],
      ]);
      await assertNoLeftovers([sub]);
    });

    it('carries streams inside the elements of a stream (wildcard element subjects)', async () => {
      const { id, sub } = serve(peers, {
        parts: async ([n]) => [
          tracked(
            Array.from({ length: n as number }, (_, i) => [
              { name: `part-${i}`, data: tracked([new Uint8Array(i + 1).fill(i)]) },
            ]),
          ),
        ],
      });
      await peers.server.flush();
      const [stream] = await call(peers, id, 'parts', [20]);
      const got: [string, number[]][] = [];
      await withDeadline(
        (async () => {
          for await (const chunk of stream as AsyncIterable<
            { name: string; data: AsyncIterable<Uint8Array> }[]
          >) {
            for (const part of chunk) got.push([part.name, [...(await readAll(part.data))]]);
          }
        })(),
        5_000,
        'the parts and their data',
      );
      assert.deepEqual(
        got,
        Array.from({ length: 20 }, (_, i) => [`part-${i}`, Array.from({ length: i + 1 }, () => i)]),
      );
      await assertNoLeftovers([sub]);
    });

    it('sends an empty stream (an empty producer, an empty array) as just its end', async () => {
      const { id, sub } = serve(peers, {
        upload: async ([data]) => [BigInt((await readAll(data as AsyncIterable<Uint8Array>)).length)],
        download: async () => [new Uint8Array(0)],
      });
      await peers.server.flush();
      assert.deepEqual(await call(peers, id, 'upload', [tracked([])]), [0n]);
      assert.deepEqual(await call(peers, id, 'upload', [[]]), [0n]);
      const [stream] = await call(peers, id, 'download', [0n]);
      assert.equal(
        (await withDeadline(readAll(stream as AsyncIterable<Uint8Array>), 5_000, 'no body')).length,
        0,
      );
      await assertNoLeftovers([sub]);
    });

    it('fails the reader with WRPC_STREAM_FAILED, naming the cause, when a producer fails mid-stream', async () => {
      let serverSaw: unknown;
      const warnings: string[] = [];
      const logger: Logger = { ...silentLogger, warn: (message) => void warnings.push(message) };
      const failing = (): AsyncIterable<Uint8Array> =>
        tracked(async function* () {
          yield new Uint8Array(100 * KiB);
          throw new Error('the disk is on fire');
        });
      const { id, sub } = serve(
        peers,
        {
          upload: async ([data]) => {
            try {
              await readAll(data as AsyncIterable<Uint8Array>);
            } catch (err) {
              serverSaw = err;
              throw err;
            }
            return [0n];
          },
          download: async () => [failing()],
        },
        { logger },
      );
      await peers.server.flush();
      await assert.rejects(
        withDeadline(call(peers, id, 'upload', [failing()]), 5_000, 'the failed upload'),
        (err) => codeOf(err) === 'WRPC_CALL_FAILED',
      );
      assert.equal(codeOf(serverSaw), 'WRPC_STREAM_FAILED');
      assert.match(String((serverSaw as Error).message), /the disk is on fire/);
      const [stream] = await call(peers, id, 'download', [0n]);
      await assert.rejects(
        withDeadline(readAll(stream as AsyncIterable<Uint8Array>), 5_000, 'the failed download'),
        (err) => codeOf(err) === 'WRPC_STREAM_FAILED' && /the disk is on fire/.test((err as Error).message),
      );
      assert.ok(warnings.includes('wRPC result stream failed'), 'the serving side logs its failed result');
      await assertNoLeftovers([sub]);
    });

    it('stops the producer when the reader gives up, in both directions', async () => {
      const producer = endless();
      let signal: AbortSignal | undefined;
      const { id, sub } = serve(peers, {
        download: async (_, caller) => {
          signal = caller.signal;
          return [producer];
        },
        upload: async ([data]) => {
          for await (const chunk of data as AsyncIterable<Uint8Array>) return [BigInt(chunk.length)];
          return [0n];
        },
      });
      await peers.server.flush();
      const [stream] = await call(peers, id, 'download', [0n]);
      let seen = 0;
      await withDeadline(
        (async () => {
          for await (const chunk of stream as AsyncIterable<Uint8Array>) {
            seen += chunk.length;
            if (seen >= 100 * KiB) break;
          }
        })(),
        5_000,
        '100 KiB of an endless stream',
      );
      await waitFor(() => producer.stopped, 2_000, 'the server-side producer to stop');
      assert.equal(codeOf(signal?.reason), 'WRPC_STREAM_CANCELLED', 'the handler learns it too');
      assert.ok(
        producer.produced < seen + 4 * MiB,
        `produced ${mib(producer.produced)} for ${mib(seen)} read`,
      );

      const uploading = endless();
      const [first] = await call(peers, id, 'upload', [uploading]);
      assert.ok((first as bigint) > 0n);
      await waitFor(() => uploading.stopped, 2_000, 'the client-side producer to stop');
      await assertNoLeftovers([sub]);
    });

    it('fails a stream that stalls with WRPC_STREAM_STALLED after the idle limit, on both sides', async () => {
      let release!: () => void;
      const stuck = new Promise<void>((resolve) => (release = resolve));
      let serverSaw: unknown;
      const { id, sub } = serve(
        peers,
        {
          download: async () => [
            tracked(async function* () {
              yield new Uint8Array(10);
              await stuck;
            }),
          ],
          upload: async ([data]) => {
            try {
              await readAll(data as AsyncIterable<Uint8Array>);
            } catch (err) {
              serverSaw = err;
            }
            return [0n];
          },
        },
        { streamLimits: { wrpcStreamIdleTimeoutMs: 300 } },
      );
      await peers.server.flush();
      try {
        const limits = { wrpcStreamIdleTimeoutMs: 300 };
        const [stream] = await call(peers, id, 'download', [0n], { streamLimits: limits });
        const started = performance.now();
        await assert.rejects(
          withDeadline(readAll(stream as AsyncIterable<Uint8Array>), 5_000, 'the stalled download'),
          (err) => codeOf(err) === 'WRPC_STREAM_STALLED',
        );
        const waited = performance.now() - started;
        assert.ok(waited >= 250 && waited < 2_000, `stalled after ${waited.toFixed(0)} ms`);

        await call(peers, id, 'upload', [
          tracked(async function* () {
            yield new Uint8Array(10);
            await stuck;
          }),
        ]);
        assert.equal(codeOf(serverSaw), 'WRPC_STREAM_STALLED');

        // A reader that stops reading: its sender gets no credit and gives up; its producer stops.
        const producer = endless();
        const { id: id2, sub: sub2 } = serve(
          peers,
          { download: async () => [producer] },
          { streamLimits: { wrpcStreamIdleTimeoutMs: 300, wrpcStreamWindowBytes: 64 * KiB } },
        );
        await peers.server.flush();
        const [unread] = await call(peers, id2, 'download', [0n], {
          streamLimits: { wrpcStreamWindowBytes: 64 * KiB },
        });
        await waitFor(() => producer.stopped, 3_000, 'the producer of an unread stream to stop');
        assert.ok(producer.produced <= 256 * KiB, `produced ${mib(producer.produced)} nobody read`);
        (unread as { cancel(): void }).cancel();
        await assertNoLeftovers([sub, sub2]);
      } finally {
        release();
      }
    });

    it('abandons a call on its signal: the server is told and its producer stops', async () => {
      const producer = endless();
      let signal: AbortSignal | undefined;
      const { id, sub } = serve(peers, {
        download: async (_, caller) => {
          signal = caller.signal;
          return [producer];
        },
      });
      await peers.server.flush();
      const controller = new AbortController();
      const [stream] = await call(peers, id, 'download', [0n], { signal: controller.signal });
      const reading = readAll(stream as AsyncIterable<Uint8Array>);
      await sleep(20);
      controller.abort(new WrpcStreamCancelledError('the HTTP client went away'));
      await assert.rejects(withDeadline(reading, 2_000, 'the abandoned read'), /the HTTP client went away/);
      await waitFor(() => producer.stopped && signal?.aborted === true, 2_000, 'the server to stop');
      await assertNoLeftovers([sub]);
    });

    it('fails a result stream within the probe interval when the server leaves the lattice', async () => {
      const server = await peers.target.connect();
      const id = unique();
      wrpcServe(server, {
        lattice: LATTICE,
        id,
        instance: INSTANCE,
        handlers: new Map([['download', { fn: fnOf('download'), handle: async () => [endless()] }]]),
        logger: silentLogger,
        maxBytes: 16 * MiB,
        maxPayload: server.maxPayload,
        timeoutMs: 5_000,
      });
      await server.flush();
      const [stream] = await call(peers, id, 'download', [0n], {
        streamLimits: { wrpcStreamProbeIntervalMs: 200 },
      });
      const it = (stream as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
      await withDeadline(it.next(), 5_000, 'a first chunk');
      await server.close();
      const started = performance.now();
      await assert.rejects(
        withDeadline(
          (async () => {
            for (;;) if ((await it.next()).done === true) return;
          })(),
          2_000,
          'the orphaned stream to fail',
        ),
        (err) => codeOf(err) === 'WRPC_STREAM_FAILED',
      );
      assert.ok(performance.now() - started < 2_000);
      await assertNoLeftovers([]);
    });
  });

  describe(`wRPC at a tiny max_payload (1 KiB): ${adapter}`, () => {
    const peers = {} as Peers;

    before(async () => {
      peers.target = await setup({ maxPayload: 1 * KiB });
      peers.server = await peers.target.connect();
      peers.client = await peers.target.connect();
    });

    after(async () => {
      await peers.client.close();
      await peers.server.close();
      await peers.target.teardown();
    });

    it('cuts streams, large inline parameters and results into messages that fit', async () => {
      const { id } = serve(peers, {
        upload: async ([data]) => [BigInt(await readPattern(data as AsyncIterable<Uint8Array>))],
        download: async ([size]) => [new PatternBody(Number(size), 3_000)],
        blob: async ([head, data]) => [
          [
            (head as Uint8Array).reduce((a, b) => a + b, 0),
            BigInt(await readPattern(data as AsyncIterable<Uint8Array>)),
          ],
        ],
        echo: async ([data]) => [data],
      });
      await peers.server.flush();
      assert.equal(peers.client.maxPayload, 1 * KiB);
      assert.deepEqual(await call(peers, id, 'upload', [new PatternBody(100 * KiB, 5_000)]), [
        BigInt(100 * KiB),
      ]);
      const [stream] = await call(peers, id, 'download', [BigInt(100 * KiB)]);
      assert.equal(
        await withDeadline(readPattern(stream as AsyncIterable<Uint8Array>), 10_000, 'download'),
        100 * KiB,
      );
      // The root parameters themselves span several messages: the rest follows on S.params.
      const head = new Uint8Array(5 * KiB).fill(1);
      assert.deepEqual(await call(peers, id, 'blob', [head, new PatternBody(10 * KiB, 700)]), [
        [5 * KiB, BigInt(10 * KiB)],
      ]);
      const [echoed] = await call(peers, id, 'echo', [head]);
      assert.deepEqual(echoed, head);
    });
  });
}
