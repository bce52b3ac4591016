/**
 * Serves a host's metrics for Prometheus to scrape at `/metrics`. Each scrape reads a fresh
 * snapshot, so the endpoint costs nothing between scrapes. It only reads: it binds wherever it is
 * told, since scrapers usually run on another machine.
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AddressInUseError, describeError } from '@cirrus/protocol';
import type { HostMetrics, Logger } from '@cirrus/protocol';
import { metricFamilies } from './catalog.ts';
import { PROMETHEUS_CONTENT_TYPE, renderPrometheus } from './prometheus.ts';

export interface MetricsServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  snapshot(): HostMetrics;
  logger: Logger;
}

export interface MetricsServer {
  /** `http://HOST:PORT/metrics`. */
  readonly url: string;
  close(): Promise<void>;
}

export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const { host, logger } = options;
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found: scrape /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end();
      return;
    }
    let body: string;
    try {
      body = renderPrometheus(metricFamilies(options.snapshot()));
    } catch (err) {
      logger.error('metrics not rendered', { error: describeError(err) });
      res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('metrics not rendered\n');
      return;
    }
    res.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE, 'cache-control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch((err: unknown) => {
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new AddressInUseError(`${host}:${options.port} is already in use`, {
        hint: 'pick another address for --metrics, or port 0 for any free one',
        cause: err,
      });
    }
    throw err;
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}/metrics`;
  logger.info('metrics served', { url });
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
