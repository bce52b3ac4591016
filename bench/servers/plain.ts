/**
 * Baseline (b): a plain Node HTTP server answering every request with a fixed response: the status,
 * headers and body bytes copied from one response of the hello component served by Cirrus.
 *
 *   node bench/servers/plain.ts --port PORT --sample FILE
 *
 * FILE is JSON: { "status": 200, "headers": ["name", "value", …], "body": "<base64>" }.
 */
import { Buffer } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

export interface SampleFile {
  status: number;
  headers: string[];
  body: string;
}

const { values } = parseArgs({ options: { port: { type: 'string' }, sample: { type: 'string' } } });
if (values.port === undefined || values.sample === undefined) {
  process.stderr.write('usage: node bench/servers/plain.ts --port PORT --sample FILE\n');
  process.exit(2);
}

const sample = JSON.parse(readFileSync(values.sample, 'utf8')) as SampleFile;
const body = Buffer.from(sample.body, 'base64');

const server = createServer((_req, res) => {
  res.writeHead(sample.status, sample.headers);
  res.end(body);
});
server.listen(Number(values.port), '127.0.0.1', () => {
  process.stdout.write(`plain server listening on http://127.0.0.1:${values.port}/\n`);
});
