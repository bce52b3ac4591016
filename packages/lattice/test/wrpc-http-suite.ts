/**
 * HTTP over wRPC (`wrpc:http@0.1.0`), run against every lattice adapter: round trips, large bodies
 * with bounded memory, trailers, concurrency, failures and abandonment, and the exact bytes a 1.x
 * http-server provider exchanges with a component.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestContext } from 'node:test';
import { take, waitFor, withDeadline } from '@cirrus/testing';
import {
  silentLogger,
  WRPC_HTTP_INCOMING_HANDLER,
  wrpcHttpIncomingHandle,
  wrpcInvocationSubject,
  wrpcAsyncPaths,
  WrpcStreamCancelledError,
} from '@cirrus/protocol';
import { httpRequestFailed, invokeHttpHandle, serveHttpHandle } from '../src/index.ts';
import type {
  HttpHandler,
  HttpServeOptions,
  LatticeConnection,
  Msg,
  ReceivedHttpRequest,
  Subscription,
} from '../src/index.ts';
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

const LATTICE = 'default';
const text = new TextEncoder();
const untext = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

/** One stream body of small pieces, from strings. */
async function* pieces(...parts: string[]): AsyncIterable<Uint8Array> {
  for (const part of parts) yield text.encode(part);
}

function bytes(...parts: (number | string | Uint8Array)[]): Uint8Array {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === 'number') out.push(p);
    else if (typeof p === 'string') out.push(...text.encode(p));
    else out.push(...p);
  }
  return Uint8Array.from(out);
}

/** A string as wRPC encodes it (length below 128). */
const str = (s: string): Uint8Array => bytes(text.encode(s).length, s);

export function wrpcHttpSuite(adapter: string, setup: WrpcSetup): void {
  describe(`HTTP over wRPC (wrpc:http/incoming-handler@0.1.0): ${adapter}`, () => {
    let target: WrpcTarget;
    let server: LatticeConnection;
    let client: LatticeConnection;
    const served: Subscription[] = [];

    before(async () => {
      target = await setup({});
      server = await target.connect();
      client = await target.connect();
    });

    after(async () => {
      for (const sub of served) sub.unsubscribe();
      await client.close();
      await server.close();
      await target.teardown();
    });

    async function serve(handler: HttpHandler, options: Partial<HttpServeOptions> = {}): Promise<string> {
      const id = unique();
      served.push(
        serveHttpHandle(server, { lattice: LATTICE, id, handler, logger: silentLogger, ...options }),
      );
      await server.flush();
      return id;
    }

    it('carries method, target, headers, body and trailers both ways', async () => {
      let seen:
        (Omit<ReceivedHttpRequest, 'body' | 'trailers'> & { body: string; trailers: unknown }) | undefined;
      const id = await serve(async (req) => {
        const { body, trailers, ...head } = req;
        seen = { ...head, body: untext(await readAll(body)), trailers: await trailers };
        return {
          status: 201,
          headers: [
            ['content-type', 'text/plain'],
            ['set-cookie', 'a=1'],
            ['Set-Cookie', 'b=2'],
            ['x-raw', Uint8Array.of(0xff, 0x00, 0x41)],
          ],
          body: pieces('created ', 'it'),
          trailers: Promise.resolve([['x-done', 'yes']]),
        };
      });
      const res = await invokeHttpHandle(client, {
        lattice: LATTICE,
        targetId: id,
        request: {
          method: 'PUT',
          pathWithQuery: '/items/7?full=1',
          scheme: 'https',
          authority: 'shop.example',
          headers: ['content-type', 'text/plain', 'accept', 'a/b', 'Accept', 'c/d', 'x-latin', 'café'],
          body: pieces('hello ', 'body'),
          trailers: [['x-checksum', '1234']],
        },
      });
      assert.deepEqual(seen, {
        method: 'PUT',
        pathWithQuery: '/items/7?full=1',
        scheme: 'https',
        authority: 'shop.example',
        headers: [
          ['content-type', 'text/plain'],
          ['accept', 'a/b'],
          ['accept', 'c/d'],
          ['x-latin', 'café'],
        ],
        body: 'hello body',
        trailers: [['x-checksum', '1234']],
      });
      assert.equal(res.status, 201);
      assert.deepEqual(res.headers, [
        ['content-type', 'text/plain'],
        ['set-cookie', 'a=1'],
        ['set-cookie', 'b=2'],
        ['x-raw', '\u00ff\u0000A'],
      ]);
      assert.equal(untext(await withDeadline(readAll(res.body), 5_000, 'the response body')), 'created it');
      assert.deepEqual(await withDeadline(res.trailers, 5_000, 'the response trailers'), [['x-done', 'yes']]);
    });

    it('maps methods, schemes and an absent body and trailers', async () => {
      const id = await serve(async (req) => ({
        status: 200,
        headers: [],
        body: text.encode(`${req.method} ${req.scheme} ${req.pathWithQuery} ${req.authority}`),
        trailers: undefined,
      }));
      for (const [method, scheme] of [
        ['GET', 'http'],
        ['PURGE', 'gopher'],
        ['patch', undefined],
      ] as const) {
        const res = await invokeHttpHandle(client, {
          lattice: LATTICE,
          targetId: id,
          request: { method, scheme, headers: [], body: null },
        });
        assert.equal(untext(await readAll(res.body)), `${method} ${scheme} undefined undefined`);
        assert.equal(await res.trailers, undefined);
      }
    });

    it('streams 16 MiB request and response bodies with bounded memory', async (t: TestContext) => {
      let lead = 0;
      const id = await serve(async (req) => ({
        status: 200,
        headers: [],
        // The response streams the request through: the two bodies are in flight at once.
        body: (async function* () {
          for await (const chunk of req.body) yield chunk;
        })(),
      }));
      const requestBody = new PatternBody(16 * MiB);
      const watch = new MemoryWatch();
      const started = performance.now();
      const res = await invokeHttpHandle(client, {
        lattice: LATTICE,
        targetId: id,
        request: { method: 'POST', headers: [], body: requestBody },
      });
      const total = await withDeadline(
        readPattern(res.body, async (got) => {
          lead = Math.max(lead, requestBody.produced - got);
          if (got % (256 * KiB) === 0) await sleep(1);
          if (got % MiB === 0) watch.sample();
        }),
        60_000,
        'the echoed 16 MiB body',
      );
      const ms = performance.now() - started;
      assert.equal(total, 16 * MiB);
      t.diagnostic(
        `16 MiB up and back: ${ms.toFixed(0)} ms, retained peak ${mib(watch.peak)}, lead ${mib(lead)}`,
      );
      // Two windows (request and response streams), the producer's chunk and a message each way.
      assert.ok(
        lead <= 2 * MiB + 64 * KiB + 2 * client.maxPayload,
        `the client's body ran ${mib(lead)} ahead`,
      );
      assert.ok(watch.peak < 8 * MiB, `retained ${mib(watch.peak)} while streaming 16 MiB each way`);
    });

    it('delivers trailers after the body they follow', async () => {
      const id = await serve(async (req) => {
        let sum = 0;
        let release!: (t: [string, string][]) => void;
        const trailers = new Promise<[string, string][]>((resolve) => (release = resolve));
        return {
          status: 200,
          headers: [],
          body: (async function* () {
            for await (const chunk of req.body) {
              for (const b of chunk) sum += b;
              yield chunk;
            }
            const requestTrailers = (await req.trailers) ?? [];
            release([...requestTrailers, ['x-sum', String(sum)]]);
          })(),
          trailers,
        };
      });
      const res = await invokeHttpHandle(client, {
        lattice: LATTICE,
        targetId: id,
        request: {
          method: 'POST',
          headers: [],
          body: pieces('abc', 'def'),
          trailers: sleep(30).then(() => [['x-from', 'client']] as [string, string][]),
        },
      });
      assert.equal(untext(await withDeadline(readAll(res.body), 5_000, 'the body')), 'abcdef');
      assert.deepEqual(await withDeadline(res.trailers, 5_000, 'the trailers'), [
        ['x-from', 'client'],
        ['x-sum', String([...text.encode('abcdef')].reduce((a, b) => a + b, 0))],
      ]);
    });

    it('serves 100 concurrent requests, each with its own body', async () => {
      const id = await serve(async (req) => ({
        status: 200,
        headers: [['x-path', req.pathWithQuery ?? '']],
        body: text.encode(`${req.pathWithQuery}:${untext(await readAll(req.body))}`),
      }));
      const results = await withDeadline(
        Promise.all(
          Array.from({ length: 100 }, async (_, i) => {
            const res = await invokeHttpHandle(client, {
              lattice: LATTICE,
              targetId: id,
              request: { method: 'POST', pathWithQuery: `/r/${i}`, headers: [], body: pieces(`body-${i}`) },
            });
            return untext(await readAll(res.body));
          }),
        ),
        20_000,
        '100 concurrent requests',
      );
      assert.deepEqual(
        results,
        Array.from({ length: 100 }, (_, i) => `/r/${i}:body-${i}`),
      );
    });

    it('answers a wasi:http error code as HTTP_REQUEST_FAILED, and any other failure as WRPC_CALL_FAILED', async () => {
      const id = await serve(async (req) => {
        if (req.pathWithQuery === '/refused') throw httpRequestFailed({ tag: 'connection-refused' });
        if (req.pathWithQuery === '/dns') {
          throw httpRequestFailed({ tag: 'DNS-error', val: { rcode: 'NXDOMAIN', infoCode: 3 } });
        }
        if (req.pathWithQuery === '/big')
          throw httpRequestFailed({ tag: 'HTTP-request-body-size', val: 123n });
        throw new Error('a bug in the handler');
      });
      const send = (path: string): Promise<unknown> =>
        invokeHttpHandle(client, {
          lattice: LATTICE,
          targetId: id,
          request: { method: 'GET', pathWithQuery: path, headers: [], body: null },
        });
      await assert.rejects(
        send('/refused'),
        (err) =>
          codeOf(err) === 'HTTP_REQUEST_FAILED' &&
          (err as { details: Record<string, unknown> }).details['errorCode'] === 'connection-refused',
      );
      await assert.rejects(send('/dns'), (err) => {
        assert.deepEqual((err as { details: unknown }).details, {
          errorCode: 'DNS-error',
          payload: { rcode: 'NXDOMAIN', infoCode: 3 },
        });
        return true;
      });
      await assert.rejects(send('/big'), (err) => {
        assert.deepEqual((err as { details: unknown }).details, {
          errorCode: 'HTTP-request-body-size',
          payload: 123,
        });
        return true;
      });
      await assert.rejects(send('/bug'), (err) => codeOf(err) === 'WRPC_CALL_FAILED');
    });

    it('propagates a client that goes away: the server learns it, its body stops, the request body fails', async () => {
      let signal: AbortSignal | undefined;
      let producerStopped = false;
      let requestBodyError: unknown;
      const id = await serve(async (req, context) => {
        signal = context.signal;
        void readAll(req.body).catch((err: unknown) => (requestBodyError = err));
        return {
          status: 200,
          headers: [],
          body: (async function* () {
            try {
              for (;;) yield new Uint8Array(16 * KiB);
            } finally {
              producerStopped = true;
            }
          })(),
        };
      });
      const controller = new AbortController();
      const res = await invokeHttpHandle(client, {
        lattice: LATTICE,
        targetId: id,
        signal: controller.signal,
        request: {
          method: 'POST',
          headers: [],
          body: (async function* () {
            for (;;) {
              yield new Uint8Array(1024);
              await sleep(5);
            }
          })(),
        },
      });
      const reading = readAll(res.body);
      await sleep(30);
      controller.abort(new WrpcStreamCancelledError('the HTTP client disconnected'));
      await assert.rejects(withDeadline(reading, 2_000, 'the abandoned response'), /disconnected/);
      await waitFor(() => producerStopped && signal?.aborted === true, 2_000, 'the server to stop its body');
      await waitFor(() => requestBodyError !== undefined, 2_000, 'the request body to fail on the server');
      assert.equal(codeOf(requestBodyError), 'WRPC_STREAM_CANCELLED');
    });

    it('tells the server when the response head misses the deadline', async () => {
      let signal: AbortSignal | undefined;
      const id = await serve(async (_req, context) => {
        signal = context.signal;
        await new Promise((resolve) => context.signal.addEventListener('abort', resolve));
        return { status: 504, headers: [], body: null };
      });
      await assert.rejects(
        invokeHttpHandle(client, {
          lattice: LATTICE,
          targetId: id,
          timeoutMs: 200,
          request: { method: 'GET', headers: [], body: null },
        }),
        (err) => codeOf(err) === 'REQUEST_TIMEOUT',
      );
      await waitFor(() => signal?.aborted === true, 2_000, 'the handler to learn the client gave up');
    });

    it('fails the response body with a typed error within 2 s when the server vanishes mid-response', async () => {
      const vanishing = await target.connect();
      const id = unique();
      serveHttpHandle(vanishing, {
        lattice: LATTICE,
        id,
        logger: silentLogger,
        handler: async () => ({
          status: 200,
          headers: [],
          body: (async function* () {
            yield text.encode('first part;');
            await new Promise(() => {});
          })(),
          trailers: new Promise(() => {}),
        }),
      });
      await vanishing.flush();
      const res = await invokeHttpHandle(client, {
        lattice: LATTICE,
        targetId: id,
        request: { method: 'GET', headers: [], body: null },
      });
      const body = res.body[Symbol.asyncIterator]();
      assert.equal(
        untext((await withDeadline(body.next(), 5_000, 'the first part')).value as Uint8Array),
        'first part;',
      );
      await vanishing.close();
      const started = performance.now();
      await assert.rejects(
        withDeadline(body.next(), 5_000, 'the body of a vanished server'),
        (err) => codeOf(err) === 'WRPC_STREAM_FAILED',
      );
      const waited = performance.now() - started;
      assert.ok(waited < 2_000, `the error came after ${waited.toFixed(0)} ms`);
      await assert.rejects(
        withDeadline(res.trailers, 5_000, 'the trailers'),
        (err) => codeOf(err) === 'WRPC_STREAM_FAILED',
      );
    });

    it('serves the outgoing handler with its request options', async () => {
      const id = await serve(
        async (req, context) => ({
          status: 200,
          headers: [],
          body: text.encode(`${req.authority} ${JSON.stringify(context.requestOptions)}`),
        }),
        { handlerInterface: 'outgoing-handler' },
      );
      const res = await invokeHttpHandle(client, {
        lattice: LATTICE,
        targetId: id,
        handler: 'outgoing-handler',
        requestOptions: { connectTimeoutMs: 1_500, betweenBytesTimeoutMs: 20 },
        request: { method: 'GET', authority: 'upstream.example', headers: [], body: null },
      });
      assert.equal(
        untext(await readAll(res.body)),
        'upstream.example {"connectTimeoutMs":1500,"betweenBytesTimeoutMs":20}',
      );
    });

    it('exchanges with a 1.x peer the exact bytes of wrpc:http (a hand-encoded request, a hand-read response)', async () => {
      let seen: { head: string; body: string; trailers: unknown } | undefined;
      const id = await serve(async (req) => {
        seen = {
          head: `${req.method} ${req.pathWithQuery} ${req.scheme} ${req.authority} ${JSON.stringify(req.headers)}`,
          body: untext(await readAll(req.body)),
          trailers: await req.trailers,
        };
        return {
          status: 200,
          headers: [['content-type', 'text/plain']],
          body: text.encode('hello raw'),
          trailers: [['x-checksum', 'abc']],
        };
      });
      // What the 1.x http-server provider sends: request { body: pending, trailers: pending,
      // method: post (case 2), path-with-query: some, scheme: some(HTTP), authority: some,
      // headers: [("content-type", ["text/plain"])] }.
      const request = bytes(
        0x00,
        0x00,
        0x02,
        0x01,
        str('/raw?x=1'),
        0x01,
        0x00,
        0x01,
        str('example.com'),
        0x01,
        str('content-type'),
        0x01,
        str('text/plain'),
      );
      const inbox = client.newInbox();
      const got = new Map<string, Msg[]>();
      // Like a 1.x client: the handshake inbox, the results and the nested result paths of the
      // signature (wrpc-introspect's async paths), nothing else.
      const paths = wrpcAsyncPaths(wrpcHttpIncomingHandle().results);
      assert.deepEqual(paths, [
        [0, 0],
        [0, 1],
      ]);
      const subjects = [inbox, `${inbox}.results`, `${inbox}.results.0.0`, `${inbox}.results.0.1`];
      const all = client.subscribe(`${inbox}.>`);
      const handshake = client.subscribe(inbox, { max: 1 });
      const collected = (async () => {
        for await (const msg of all) {
          const list = got.get(msg.subject) ?? [];
          list.push(msg);
          got.set(msg.subject, list);
          const ended = (s: string): boolean => (got.get(s) ?? []).some((m) => m.data.length === 0);
          if (subjects.slice(1).every(ended)) return;
        }
      })();
      await client.flush();
      client.publish(wrpcInvocationSubject(LATTICE, id, WRPC_HTTP_INCOMING_HANDLER, 'handle'), request, {
        reply: inbox,
        headers: { 'source-id': 'http-server' },
      });
      const [accepted] = await take(handshake, 1, 5_000, 'the handshake');
      const s = accepted?.reply as string;
      assert.equal(accepted?.data.length, 0);
      assert.equal(accepted?.headers?.['cirrus-wrpc-window'], undefined, 'a 1.x peer is not offered credit');
      // End of the root parameters, then the body (chunk "ping", end chunk, end) and the trailers (none).
      client.publish(`${s}.params`, new Uint8Array(0));
      client.publish(`${s}.params.0.0`, bytes(4, 'ping'));
      client.publish(`${s}.params.0.0`, bytes(0));
      client.publish(`${s}.params.0.0`, new Uint8Array(0));
      client.publish(`${s}.params.0.1`, bytes(0));
      client.publish(`${s}.params.0.1`, new Uint8Array(0));
      await withDeadline(collected, 5_000, 'the response on every result subject');
      all.unsubscribe();
      assert.deepEqual(seen, {
        head: 'POST /raw?x=1 http example.com [["content-type","text/plain"]]',
        body: 'ping',
        trailers: undefined,
      });
      const joined = (subject: string): Uint8Array => bytes(...(got.get(subject) ?? []).map((m) => m.data));
      // result ok, response { body: pending, trailers: pending, status 200 (LEB128 c8 01),
      // headers: [("content-type", ["text/plain"])] }.
      assert.deepEqual(
        joined(`${inbox}.results`),
        bytes(0x00, 0x00, 0x00, 0xc8, 0x01, 0x01, str('content-type'), 0x01, str('text/plain')),
      );
      assert.deepEqual(joined(`${inbox}.results.0.0`), bytes(9, 'hello raw', 0));
      assert.deepEqual(
        joined(`${inbox}.results.0.1`),
        bytes(0x01, 0x01, str('x-checksum'), 0x01, str('abc')),
      );
      assert.deepEqual(
        [...got.keys()].sort(),
        subjects.slice(1).sort(),
        'nothing but results (no credit, no probes) goes to a 1.x peer',
      );
    });

    it('sends a 1.x server the exact bytes of wrpc:http, and reads its response', async () => {
      const id = unique();
      const invocation = server.subscribe(
        wrpcInvocationSubject(LATTICE, id, WRPC_HTTP_INCOMING_HANDLER, 'handle'),
        {
          max: 1,
        },
      );
      await server.flush();
      const responding = invokeHttpHandle(client, {
        lattice: LATTICE,
        targetId: id,
        request: {
          method: 'GET',
          pathWithQuery: '/',
          scheme: 'http',
          authority: 'a.example',
          headers: [['accept', '*/*']],
          body: null,
        },
      });
      const [msg] = await take(invocation, 1, 5_000, 'the invocation');
      assert.deepEqual(
        bytes(msg?.data ?? new Uint8Array(0)),
        bytes(
          0x00,
          0x00,
          0x00,
          0x01,
          str('/'),
          0x01,
          0x00,
          0x01,
          str('a.example'),
          0x01,
          str('accept'),
          0x01,
          str('*/*'),
        ),
      );
      const r = msg?.reply as string;
      // A 1.x server: subscribes its parameter subjects, answers the handshake without a window.
      const s = server.newInbox();
      const params = server.subscribe(`${s}.>`);
      await server.flush();
      server.publish(r, new Uint8Array(0), { reply: s });
      const received = new Map<string, Uint8Array[]>();
      await withDeadline(
        (async () => {
          for await (const m of params) {
            received.set(m.subject, [...(received.get(m.subject) ?? []), m.data]);
            const ended = (x: string): boolean => (received.get(x) ?? []).some((d) => d.length === 0);
            if ([`${s}.params`, `${s}.params.0.0`, `${s}.params.0.1`].every(ended)) return;
          }
        })(),
        5_000,
        'the parameter subjects to end',
      );
      params.unsubscribe();
      assert.deepEqual(
        bytes(...(received.get(`${s}.params.0.0`) ?? [])),
        bytes(0),
        'an empty body: its end chunk',
      );
      assert.deepEqual(bytes(...(received.get(`${s}.params.0.1`) ?? [])), bytes(0), 'no trailers: none');
      server.publish(`${r}.results`, bytes(0x00, 0x00, 0x00, 0xcc, 0x01, 0x00));
      server.publish(`${r}.results`, new Uint8Array(0));
      server.publish(`${r}.results.0.0`, bytes(3, 'abc', 2));
      server.publish(`${r}.results.0.0`, bytes('de', 0));
      server.publish(`${r}.results.0.0`, new Uint8Array(0));
      server.publish(`${r}.results.0.1`, bytes(0));
      server.publish(`${r}.results.0.1`, new Uint8Array(0));
      const res = await withDeadline(responding, 5_000, 'the response');
      assert.equal(res.status, 204);
      assert.equal(untext(await withDeadline(readAll(res.body), 5_000, 'the body')), 'abcde');
      assert.equal(await res.trailers, undefined);
    });
  });
}
