/**
 * What a provider process writes to stdout and stderr, into the host's log: cut into lines of bounded
 * length, JSON lines (the SDK's, or a Rust provider's `tracing` JSON) keep their level, message and
 * fields, and anything else is logged as text. A provider must not be able to forge host log lines,
 * so control characters are escaped and field names restricted.
 */
import type { Readable } from 'node:stream';
import type { LogFields } from '@cirrus/protocol';

export type HostLevel = 'debug' | 'info' | 'warn' | 'error';

export interface ProviderLogEntry {
  level: HostLevel;
  message: string;
  fields: LogFields;
}

const NEWLINE = 0x0a;
const decoder = new TextDecoder();

/**
 * Calls `onLine` for each line of `stream`, at most `maxBytes` of it (a cut line ends in `…`; the
 * rest up to the newline is dropped without being buffered).
 */
export function readLines(stream: Readable, maxBytes: number, onLine: (line: string) => void): void {
  let parts: Buffer[] = [];
  let size = 0;
  let cut = false;
  const emit = (): void => {
    let line = decoder.decode(Buffer.concat(parts, size));
    if (line.endsWith('\r')) line = line.slice(0, -1);
    parts = [];
    size = 0;
    if (cut) line += '…';
    cut = false;
    onLine(line);
  };
  const keep = (chunk: Buffer): void => {
    const room = maxBytes - size;
    if (chunk.length > room) cut = true;
    const kept = chunk.subarray(0, Math.max(0, room));
    if (kept.length > 0) {
      parts.push(kept);
      size += kept.length;
    }
  };
  stream.on('data', (chunk: Buffer) => {
    let at = 0;
    for (;;) {
      const end = chunk.indexOf(NEWLINE, at);
      if (end === -1) break;
      keep(chunk.subarray(at, end));
      emit();
      at = end + 1;
    }
    if (at < chunk.length) keep(chunk.subarray(at));
  });
  stream.on('end', () => {
    if (size > 0 || cut) emit();
  });
}

/** Escapes control characters: the human log format prints messages as they are. */
function escapeControls(text: string): string {
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  return text.replace(/[\u0000-\u001f\u007f]/g, (c) => {
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    if (c === '\t') return '\\t';
    return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
}

function hostLevel(value: unknown): HostLevel | undefined {
  switch (typeof value === 'string' ? value.toLowerCase() : undefined) {
    case 'trace':
    case 'debug':
      return 'debug';
    case 'info':
      return 'info';
    case 'warn':
    case 'warning':
      return 'warn';
    case 'error':
    case 'critical':
    case 'fatal':
      return 'error';
    default:
      return undefined;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Keys the entry itself is made of, or that the host sets. */
const RESERVED = new Set(['level', 'msg', 'message', 'time', 'timestamp', 'fields', 'provider', 'stream']);
const FIELD_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

function addFields(out: LogFields, source: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(source)) {
    if (!RESERVED.has(key) && FIELD_NAME.test(key)) out[key] = value;
  }
}

/**
 * One line of provider output as a log entry. JSON objects with a message (`msg`, `message`, or
 * tracing's `fields.message`) keep their level and fields; other lines become a text entry at
 * `fallback`.
 */
export function parseProviderLogLine(line: string, fallback: HostLevel): ProviderLogEntry {
  if (line.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      parsed = undefined;
    }
    if (isRecord(parsed)) {
      const nested = isRecord(parsed['fields']) ? parsed['fields'] : {};
      const message = parsed['msg'] ?? parsed['message'] ?? nested['message'];
      if (typeof message === 'string') {
        const fields: LogFields = {};
        addFields(fields, nested);
        addFields(fields, parsed);
        return { level: hostLevel(parsed['level']) ?? fallback, message: escapeControls(message), fields };
      }
    }
  }
  return { level: fallback, message: escapeControls(line), fields: {} };
}
