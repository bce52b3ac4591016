/**
 * A hello component with no JavaScript engine in it: a hand-written core module (WAT) that answers
 * every request with a fixed body through `wasi:http`, made a component against the WASI 0.2.12 WIT
 * the toolchain ships (6.7 KB, built in milliseconds). Beside the JavaScript hellos it shows what
 * the host itself costs per request, per instance and per start.
 */
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { componentEmbed, componentNew, parse } from '@bytecodealliance/jco-transpile/wasm-tools';
import { ROOT } from './lib.ts';

const WIT_DEPS = join(ROOT, 'node_modules', '@bytecodealliance', 'jco', 'lib', 'wit', 'builtin', '0.2.12');
const WORLD = `package cirrus-bench:hello-wat;

world hello {
  export wasi:http/incoming-handler@0.2.12;
}
`;
const BODY = 'Hello from Cirrus (WAT)!\\n';
const BODY_BYTES = 25;

const TYPES = 'cm32p2|wasi:http/types@0.2';
const STREAMS = 'cm32p2|wasi:io/streams@0.2';

/** Results come back through memory at 1024 (a result's case at +0, its handle at +4). */
const CORE = `(module
  (import "${TYPES}" "[constructor]fields" (func $fields (result i32)))
  (import "${TYPES}" "[constructor]outgoing-response" (func $response (param i32) (result i32)))
  (import "${TYPES}" "[method]outgoing-response.body" (func $body (param i32 i32)))
  (import "${TYPES}" "[method]outgoing-body.write" (func $write (param i32 i32)))
  (import "${TYPES}" "[static]outgoing-body.finish" (func $finish (param i32 i32 i32 i32)))
  (import "${TYPES}" "[static]response-outparam.set"
    (func $set (param i32 i32 i32 i32 i64 i32 i32 i32 i32)))
  (import "${TYPES}" "incoming-request_drop" (func $dropRequest (param i32)))
  (import "${STREAMS}" "[method]output-stream.blocking-write-and-flush" (func $flush (param i32 i32 i32 i32)))
  (import "${STREAMS}" "output-stream_drop" (func $dropStream (param i32)))
  (memory (export "cm32p2_memory") 1)
  (data (i32.const 16) "${BODY}")
  (func (export "cm32p2_realloc") (param i32 i32 i32 i32) (result i32) (i32.const 4096))
  (func (export "cm32p2|wasi:http/incoming-handler@0.2|handle") (param $request i32) (param $out i32)
    (local $response i32) (local $body i32) (local $stream i32)
    (call $dropRequest (local.get $request))
    (local.set $response (call $response (call $fields)))
    (call $body (local.get $response) (i32.const 1024))
    (local.set $body (i32.load (i32.const 1028)))
    (call $set (local.get $out) (i32.const 0) (local.get $response)
      (i32.const 0) (i64.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0))
    (call $write (local.get $body) (i32.const 1024))
    (local.set $stream (i32.load (i32.const 1028)))
    (call $flush (local.get $stream) (i32.const 16) (i32.const ${BODY_BYTES}) (i32.const 1024))
    (call $dropStream (local.get $stream))
    (call $finish (local.get $body) (i32.const 0) (i32.const 0) (i32.const 1024)))
)`;

/** Builds the WAT hello into `dir` and returns its path. */
export async function buildWatHello(dir: string): Promise<string> {
  const wit = join(dir, 'wat-hello-wit');
  await mkdir(join(wit, 'deps'), { recursive: true });
  await writeFile(join(wit, 'world.wit'), WORLD);
  for (const pkg of [
    'wasi-cli',
    'wasi-clocks',
    'wasi-filesystem',
    'wasi-http',
    'wasi-io',
    'wasi-random',
    'wasi-sockets',
  ]) {
    await symlink(join(WIT_DEPS, pkg), join(wit, 'deps', pkg), 'dir');
  }
  const embedded = await componentEmbed({ binary: await parse(CORE), witPath: wit, world: 'hello' });
  const path = join(dir, 'hello-wat.wasm');
  await writeFile(path, await componentNew(embedded));
  return path;
}
