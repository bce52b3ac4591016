/** One GET with a deadline, on a connection of its own, as a test sends it. */
import { request } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import { withDeadline } from './deadline.ts';

export interface HttpAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface HttpGetOptions {
  /** The Host header, for routing by name (fetch sets it from the URL and cannot). */
  host?: string;
  headers?: Record<string, string>;
  /** Default 10 s. */
  timeoutMs?: number;
}

export function httpGet(port: number, path: string, options: HttpGetOptions = {}): Promise<HttpAnswer> {
  const headers = { ...options.headers, ...(options.host === undefined ? {} : { host: options.host }) };
  return withDeadline(
    new Promise<HttpAnswer>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        );
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    }),
    options.timeoutMs ?? 10_000,
    `GET ${options.host ?? `127.0.0.1:${port}`}${path}`,
  );
}
