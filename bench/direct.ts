/**
 * The baseline "bare jco call": the hello component transpiled exactly as Cirrus transpiles it (same
 * jco options, same bindings patch), instantiated on this thread with Cirrus's own WASI host, and its
 * `wasi:http/incoming-handler#handle` export called directly: no worker thread, no pool, no messages.
 * Used in-process by the invoke benchmark and behind a Node HTTP server by servers/direct.ts.
 */
import { Buffer } from 'node:buffer';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { transpileBytes } from '@bytecodealliance/jco-transpile';
import type { HttpErrorCode, HttpRequestHead } from '@cirrus/runtime';
import {
  ASYNC_IMPORTS,
  createWasiImports,
  EMPTY_SOURCE,
  HTTP_HANDLE_EXPORT,
  ImmediateSink,
  IncomingRequest,
  LineSink,
  optimiseBindings,
  OutputStream,
  ResponseOutparam,
} from '@cirrus/runtime/in-thread';
import type { ByteSink, ResponseChannel } from '@cirrus/runtime/in-thread';

const NAME = 'component';

/** The options of the runtime's transpile step (packages/runtime/src/transpile.ts; not exported, so repeated). */
const OPTIONS = {
  name: NAME,
  instantiation: 'async',
  asyncMode: 'jspi',
  asyncImports: [...ASYNC_IMPORTS],
  asyncExports: [HTTP_HANDLE_EXPORT],
  emitTypescriptDeclarations: false,
} as const;

type Instantiate = (
  getCoreModule: (name: string) => WebAssembly.Module,
  imports: Record<string, unknown>,
) => Promise<Record<string, unknown>>;

interface IncomingHandler {
  handle(request: IncomingRequest, out: ResponseOutparam): unknown;
}

export interface DirectComponent {
  /** Runs one request through the export; resolves when `handle` has returned. */
  handle(head: HttpRequestHead, channel: ResponseChannel): Promise<void>;
}

/**
 * Transpiles `wasmPath` into `outDir` and instantiates it once. `environment` is what the component
 * sees through wasi:cli/environment (the host passes the manifest config the same way).
 */
export async function loadDirect(
  wasmPath: string,
  outDir: string,
  environment: [string, string][],
  /** Interfaces the component imports beyond WASI, as plain JavaScript: bare jco import calls. */
  linkedImports: Record<string, unknown> = {},
): Promise<DirectComponent> {
  const output = await transpileBytes(await readFile(wasmPath), {
    ...OPTIONS,
    asyncImports: [...OPTIONS.asyncImports],
    asyncExports: [...OPTIONS.asyncExports],
  });
  const bindings = output.files[`${NAME}.js`];
  if (bindings === undefined) throw new Error('jco produced no JavaScript bindings');
  await mkdir(outDir, { recursive: true });
  await writeFile(join(outDir, `${NAME}.mjs`), optimiseBindings(new TextDecoder().decode(bindings)));
  const modules: Record<string, WebAssembly.Module> = {};
  for (const [name, bytes] of Object.entries(output.files)) {
    if (name.endsWith('.wasm')) modules[name] = await WebAssembly.compile(bytes);
  }

  const { instantiate } = (await import(pathToFileURL(join(outDir, `${NAME}.mjs`)).href)) as {
    instantiate: Instantiate;
  };
  const stdout = new LineSink((line) => process.stdout.write(`[guest] ${line}\n`), 8192);
  const stderr = new LineSink((line) => process.stderr.write(`[guest] ${line}\n`), 8192);
  const exports = await instantiate(
    (name) => {
      const module = modules[name];
      if (module === undefined) throw new Error(`core module ${name} is missing`);
      return module;
    },
    {
      ...createWasiImports({
        environment,
        stdout: new OutputStream(stdout),
        stderr: new OutputStream(stderr),
      }),
      ...linkedImports,
    },
  );
  const exportName = Object.keys(exports).find((n) => n.startsWith('wasi:http/incoming-handler@0.2'));
  const handler = exportName === undefined ? undefined : (exports[exportName] as IncomingHandler);
  if (handler === undefined) throw new Error(`${wasmPath} does not export wasi:http/incoming-handler`);

  return {
    async handle(head, channel) {
      try {
        await handler.handle(new IncomingRequest(head, EMPTY_SOURCE), new ResponseOutparam(channel));
      } finally {
        stdout.finish();
        stderr.finish();
      }
    },
  };
}

/**
 * A ResponseChannel that keeps the whole response in memory (the component's output for one call),
 * like the runtime's collector in its tests. Subclasses decide what to do at the end.
 */
export class BufferedResponse extends ImmediateSink implements ResponseChannel {
  readonly body: ByteSink = this;
  status: number | undefined;
  /** Raw headers as `[name, value, …]`, latin1 as Node's rawHeaders. */
  headers: string[] = [];
  chunks: Uint8Array[] = [];
  bytes = 0;
  ended = false;
  failure: HttpErrorCode | undefined;

  get closed(): boolean {
    return false;
  }

  get error(): undefined {
    return undefined;
  }

  head(status: number, headers: readonly [string, Uint8Array][]): void {
    this.status = status;
    const flat: string[] = [];
    for (const [name, value] of headers) flat.push(name, Buffer.from(value).toString('latin1'));
    this.headers = flat;
  }

  end(_trailers: readonly [string, Uint8Array][] | undefined): void {
    this.ended = true;
  }

  fail(code: HttpErrorCode): void {
    this.failure = code;
  }

  capacity(): number {
    return 1024 * 1024;
  }

  write(bytes: Uint8Array): void {
    if (bytes.byteLength === 0) return;
    this.chunks.push(bytes);
    this.bytes += bytes.byteLength;
  }
}
