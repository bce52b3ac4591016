/**
 * Messages between the host thread and an instance worker. One worker runs one component instance
 * and one call at a time; `id` identifies the call.
 */
import type { ErrorJSON } from '@cirrus/protocol';
import type { HttpRequestHead } from './http-types.ts';

export interface WorkerInit {
  componentId: string;
  moduleUrl: string;
  coreModules: Record<string, WebAssembly.Module>;
  environment: [string, string][];
  httpExport: string | undefined;
  logLineMaxBytes: number;
  responseWindowBytes: number;
  compileCacheDir: string | undefined;
  /** Two Int32 slots: bytes the client has taken, and a client-gone flag (see worker.ts). */
  flow: SharedArrayBuffer;
}

export interface ResponseHead {
  status: number;
  headers: string[];
}

export type ToWorker =
  | { t: 'http'; id: number; head: HttpRequestHead; hasBody: boolean }
  | { t: 'body'; id: number; chunk: Uint8Array }
  | { t: 'body-end'; id: number }
  | { t: 'body-error'; id: number; message: string };

export type FromWorker =
  | { t: 'ready' }
  | { t: 'init-failed'; error: ErrorJSON }
  | { t: 'out'; id: number; head?: ResponseHead; chunks: Uint8Array[] }
  | { t: 'done'; id: number; head?: ResponseHead; chunks: Uint8Array[]; trailers?: string[] }
  | { t: 'failed'; id: number; error: ErrorJSON; fatal: boolean }
  | { t: 'consumed'; id: number; bytes: number }
  | { t: 'log'; stream: 'stdout' | 'stderr'; line: string };
