import { cliImports } from './cli.ts';
import type { CliContext } from './cli.ts';
import { monotonicClock, wallClock } from './clocks.ts';
import { filesystemImports, socketsImports } from './denied.ts';
import { httpTypes, outgoingHandler } from './http.ts';
import type { OutgoingHttpTransport } from './http.ts';
import { InputStream, IoError, OutputStream, poll, Pollable } from './io.ts';
import { insecure, insecureSeed, random } from './random.ts';

export type ImportObject = Record<string, Record<string, unknown>>;

export interface WasiContext extends CliContext {
  /** Where outgoing requests go; without it every one is denied. */
  outgoingHttp?: OutgoingHttpTransport | undefined;
}

/** The WASI 0.2 imports of one instance, keyed by unversioned interface name as jco expects. */
export function createWasiImports(ctx: WasiContext): ImportObject {
  return {
    ...cliImports(ctx),
    'wasi:clocks/monotonic-clock': monotonicClock,
    'wasi:clocks/wall-clock': wallClock,
    'wasi:io/error': { Error: IoError },
    'wasi:io/poll': { Pollable, poll },
    'wasi:io/streams': { InputStream, OutputStream },
    'wasi:random/random': random,
    'wasi:random/insecure': insecure,
    'wasi:random/insecure-seed': insecureSeed,
    'wasi:http/types': httpTypes(ctx.outgoingHttp?.maxBodyBytes ?? 0),
    'wasi:http/outgoing-handler': outgoingHandler(ctx.outgoingHttp),
    ...filesystemImports,
    ...socketsImports,
  };
}
