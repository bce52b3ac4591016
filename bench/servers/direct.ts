/**
 * Baseline (d): a minimal Node HTTP server that calls the hello component's export directly on its
 * own thread (see ../direct.ts), one call at a time as a single instance must be driven.
 *
 *   node bench/servers/direct.ts --port PORT --wasm FILE --out DIR [--greeting TEXT]
 */
import { Buffer } from 'node:buffer';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseArgs } from 'node:util';
import { BufferedResponse, loadDirect } from '../direct.ts';
import type { DirectComponent } from '../direct.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    wasm: { type: 'string' },
    out: { type: 'string' },
    greeting: { type: 'string' },
  },
});
if (values.port === undefined || values.wasm === undefined || values.out === undefined) {
  process.stderr.write('usage: node bench/servers/direct.ts --port PORT --wasm FILE --out DIR\n');
  process.exit(2);
}

const environment: [string, string][] = values.greeting === undefined ? [] : [['GREETING', values.greeting]];
const component = await loadDirect(values.wasm, values.out, environment);

function hasHeader(headers: readonly string[], name: string): boolean {
  for (let i = 0; i < headers.length; i += 2) if (headers[i]?.toLowerCase() === name) return true;
  return false;
}

/** Sends the buffered response in one write, as the Cirrus listener does for small bodies. */
function send(res: ServerResponse, out: BufferedResponse): void {
  if (out.status === undefined || out.failure !== undefined) {
    res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(out.failure === undefined ? 'no response\n' : `error-code ${out.failure.tag}\n`);
    return;
  }
  const body = out.chunks.length === 1 ? (out.chunks[0] as Uint8Array) : Buffer.concat(out.chunks);
  const headers = out.headers;
  if (!hasHeader(headers, 'content-length') && !hasHeader(headers, 'transfer-encoding')) {
    headers.push('content-length', String(body.byteLength));
  }
  res.writeHead(out.status, headers);
  res.end(body);
}

async function serve(component: DirectComponent, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const out = new BufferedResponse();
  try {
    await component.handle(
      {
        method: req.method ?? 'GET',
        pathWithQuery: req.url ?? '/',
        scheme: 'http',
        authority: req.headers.host ?? '',
        headers: req.rawHeaders,
      },
      out,
    );
    send(res, out);
  } catch (err) {
    process.stderr.write(`call failed: ${err instanceof Error ? err.message : String(err)}\n`);
    if (!res.headersSent) res.writeHead(500);
    res.end();
  }
}

/** One instance runs one call at a time: calls queue behind each other. */
let queue: Promise<void> = Promise.resolve();

const server = createServer((req, res) => {
  queue = queue.then(() => serve(component, req, res));
});
server.listen(Number(values.port), '127.0.0.1', () => {
  process.stdout.write(`direct server listening on http://127.0.0.1:${values.port}/\n`);
});
