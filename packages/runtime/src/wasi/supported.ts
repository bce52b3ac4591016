/**
 * What the host side of WASI provides, known without building an instance (the host checks a
 * component's imports against it before starting anything), and which functions may suspend.
 */
export const SUPPORTED_IMPORTS: ReadonlySet<string> = new Set([
  'wasi:cli/environment',
  'wasi:cli/exit',
  'wasi:cli/stdin',
  'wasi:cli/stdout',
  'wasi:cli/stderr',
  'wasi:cli/terminal-input',
  'wasi:cli/terminal-output',
  'wasi:cli/terminal-stdin',
  'wasi:cli/terminal-stdout',
  'wasi:cli/terminal-stderr',
  'wasi:clocks/monotonic-clock',
  'wasi:clocks/wall-clock',
  'wasi:io/error',
  'wasi:io/poll',
  'wasi:io/streams',
  'wasi:random/random',
  'wasi:random/insecure',
  'wasi:random/insecure-seed',
  'wasi:http/types',
  'wasi:http/outgoing-handler',
  'wasi:filesystem/preopens',
  'wasi:filesystem/types',
  'wasi:sockets/network',
  'wasi:sockets/instance-network',
  'wasi:sockets/tcp',
  'wasi:sockets/tcp-create-socket',
  'wasi:sockets/udp',
  'wasi:sockets/udp-create-socket',
  'wasi:sockets/ip-name-lookup',
]);

/**
 * Host functions that wait for the event loop (timers, request bodies arriving): JSPI suspends the
 * guest on them. Output backpressure blocks the instance's own thread instead, so the common write
 * path costs no suspension.
 */
export const ASYNC_IMPORTS: readonly string[] = [
  'wasi:io/poll#poll',
  'wasi:io/poll#[method]pollable.block',
  'wasi:io/streams#[method]input-stream.blocking-read',
  'wasi:io/streams#[method]input-stream.blocking-skip',
  'wasi:io/streams#[method]output-stream.blocking-splice',
];

/** Strips the version: `wasi:http/types@0.2.12` → `wasi:http/types`. */
export function unversioned(name: string): string {
  const at = name.indexOf('@');
  return at === -1 ? name : name.slice(0, at);
}
