/**
 * The load generator's process: N keep-alive connections, each a closed loop (send a request, read
 * the whole response, send the next at once), as impatient clients and most load generators behave.
 * It runs in a process of its own so that its work does not share an event loop with the server or
 * the test. Reads its settings as JSON from argv[2] and prints one JSON report on stdout.
 */
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import type { HttpLoadReport, HttpLoadSettings } from './http-load.ts';
import { Samples } from './samples.ts';

const settings = JSON.parse(process.argv[2] ?? '{}') as HttpLoadSettings;
const request = Buffer.from(
  `GET ${settings.path} HTTP/1.1\r\nHost: ${settings.host}:${settings.port}\r\nUser-Agent: cirrus-load\r\n\r\n`,
);
const HEADER_END = Buffer.from('\r\n\r\n');

let measuring = false;
let finished = false;
const statuses: Record<string, number> = {};
const errors: Record<string, number> = {};
const successLatencies = new Samples();
let responses = 0;
let connectionsOpened = 0;

/** One connection's closed loop and its incremental response parser. */
class Client {
  #socket: Socket | undefined;
  #buffer: Buffer = Buffer.alloc(0);
  #sentAt = 0;
  /** Body bytes still to read for the current response; -1 while reading the head. */
  #bodyLeft = -1;
  #chunked = false;
  #status = 0;
  #close = false;

  start(): void {
    if (finished) return;
    connectionsOpened++;
    const socket = connect({ host: settings.host, port: settings.port });
    this.#socket = socket;
    socket.setNoDelay(true);
    socket.on('connect', () => this.#send());
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (measuring) errors[err.code ?? 'ERROR'] = (errors[err.code ?? 'ERROR'] ?? 0) + 1;
    });
    socket.on('close', () => {
      if (this.#socket !== socket) return;
      this.#socket = undefined;
      // A refused or dropped connection is retried after a pause, so a dead server is not spun on.
      setTimeout(() => this.start(), 10);
    });
  }

  #send(): void {
    if (finished || this.#socket === undefined) return;
    this.#buffer = Buffer.alloc(0);
    this.#bodyLeft = -1;
    this.#sentAt = performance.now();
    this.#socket.write(request);
  }

  #onData(chunk: Buffer): void {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    if (this.#bodyLeft === -1 && !this.#readHead()) return;
    if (this.#chunked) {
      if (!this.#readChunks()) return;
    } else {
      if (this.#buffer.length < this.#bodyLeft) return;
      this.#buffer = this.#buffer.subarray(this.#bodyLeft);
    }
    this.#complete();
  }

  #readHead(): boolean {
    const end = this.#buffer.indexOf(HEADER_END);
    if (end === -1) return false;
    const head = this.#buffer.subarray(0, end).toString('latin1');
    this.#buffer = this.#buffer.subarray(end + 4);
    this.#status = Number(head.slice(9, 12));
    const lower = head.toLowerCase();
    const length = /\r\ncontent-length:\s*(\d+)/.exec(lower);
    this.#chunked = /\r\ntransfer-encoding:[^\r]*chunked/.test(lower);
    this.#close = /\r\nconnection:\s*close/.test(lower);
    this.#bodyLeft = length === null ? 0 : Number(length[1]);
    return true;
  }

  /** Consumes complete chunks; true once the last (empty) chunk and its trailers are read. */
  #readChunks(): boolean {
    for (;;) {
      const lineEnd = this.#buffer.indexOf('\r\n');
      if (lineEnd === -1) return false;
      const size = parseInt(this.#buffer.subarray(0, lineEnd).toString('latin1'), 16);
      if (size === 0) {
        // The last chunk's line, optional trailers, then an empty line.
        const trailersEnd = this.#buffer.indexOf(HEADER_END, lineEnd);
        if (trailersEnd === -1) return false;
        this.#buffer = this.#buffer.subarray(trailersEnd + 4);
        return true;
      }
      if (this.#buffer.length < lineEnd + 2 + size + 2) return false;
      this.#buffer = this.#buffer.subarray(lineEnd + 2 + size + 2);
    }
  }

  #complete(): void {
    if (measuring) {
      responses++;
      statuses[this.#status] = (statuses[this.#status] ?? 0) + 1;
      if (this.#status >= 200 && this.#status < 300) successLatencies.add(performance.now() - this.#sentAt);
    }
    if (this.#close) {
      this.#socket?.destroy();
      return;
    }
    this.#send();
  }

  stop(): void {
    const socket = this.#socket;
    this.#socket = undefined;
    socket?.destroy();
  }
}

const clients = Array.from({ length: settings.connections }, () => new Client());
for (const client of clients) client.start();

await new Promise((resolve) => setTimeout(resolve, settings.warmupMs));
measuring = true;
const cpuStart = process.cpuUsage();
const started = performance.now();
await new Promise((resolve) => setTimeout(resolve, settings.durationMs));
const seconds = (performance.now() - started) / 1000;
measuring = false;
finished = true;
const cpu = process.cpuUsage(cpuStart);
for (const client of clients) client.stop();

const [p50, p99] = successLatencies.percentiles(50, 99);
const known = (value: number | undefined): number | null =>
  value === undefined || Number.isNaN(value) ? null : value;
const report: HttpLoadReport = {
  connections: settings.connections,
  seconds,
  responses,
  successes: successLatencies.count,
  successPerSecond: successLatencies.count / seconds,
  responsesPerSecond: responses / seconds,
  statuses,
  errors,
  connectionsOpened,
  successLatencyMs: { p50: known(p50), p99: known(p99), max: known(successLatencies.max()) },
  generatorCpuSeconds: (cpu.user + cpu.system) / 1e6,
};
process.stdout.write(`${JSON.stringify(report)}\n`);
process.exit(0);
