/**
 * The built-in logging provider: serves `wasi:logging/logging` (0.1.0-draft, the version wasmCloud
 * 1.x hosts provide) to the components linked to it, writing each call to the host's structured log
 * with the calling component and the guest's context as fields.
 */
import type { Logger } from '@cirrus/protocol';
import type {
  BuiltinProvider,
  CapabilityProvider,
  ExportHandlers,
  ImportSource,
  ProviderContext,
} from '@cirrus/provider-core';

const LOGGING = 'wasi:logging/logging';

type HostLevel = 'debug' | 'info' | 'warn' | 'error';

/** The draft's six levels on the host's four; jco passes an enum as its case name. */
const LEVELS: Readonly<Record<string, HostLevel>> = {
  trace: 'debug',
  debug: 'debug',
  info: 'info',
  warn: 'warn',
  error: 'error',
  critical: 'error',
};

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Cuts `text` to at most `maxBytes` of UTF-8 (the limit is in bytes, like the stdout line limit),
 * never splitting a character, and marks the cut.
 */
export function truncateUtf8(text: string, maxBytes: number): string {
  // A UTF-16 code unit is at most 3 UTF-8 bytes, so short strings need no encoding.
  if (text.length * 3 <= maxBytes) return text;
  const bytes = encoder.encode(text);
  if (bytes.byteLength <= maxBytes) return text;
  let end = maxBytes;
  // Step back over continuation bytes (10xxxxxx) to the start of the character that was cut.
  while (end > 0 && ((bytes[end] as number) & 0xc0) === 0x80) end--;
  return `${decoder.decode(bytes.subarray(0, end))}…`;
}

/**
 * Line breaks and other control characters written as escapes: the human log format prints the
 * message as is, and a guest must not be able to forge log lines of its own.
 */
function escapeControls(text: string): string {
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  return text.replace(/[\u0000-\u001f\u007f]/g, (c) => {
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    if (c === '\t') return '\\t';
    return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
}

class LoggingProvider implements CapabilityProvider {
  readonly #logger: Logger;
  readonly #maxBytes: number;

  constructor(context: ProviderContext) {
    this.#logger = context.logger;
    this.#maxBytes = context.limits.guestLogLineMaxBytes;
  }

  readonly exports: ExportHandlers<ImportSource> = {
    [LOGGING]: {
      log: (source: ImportSource, level: unknown, context: unknown, message: unknown) => {
        const guestLevel = typeof level === 'string' ? level : 'info';
        // An unknown level is logged rather than refused: failing the call would trap the guest over a log line.
        const hostLevel = LEVELS[guestLevel] ?? 'info';
        const fields: Record<string, unknown> = {
          component: source.sourceId,
          context: this.#bounded(context),
        };
        // Only where the host's four levels lose the distinction (trace, critical).
        if (guestLevel !== hostLevel) fields['wasi_level'] = guestLevel;
        this.#logger[hostLevel](this.#bounded(message), fields);
      },
    },
  };

  /** Escaped, then cut to the limit; cut before escaping too, so a huge string costs no huge copy. */
  #bounded(value: unknown): string {
    const text = typeof value === 'string' ? value : '';
    return truncateUtf8(escapeControls(truncateUtf8(text, this.#maxBytes)), this.#maxBytes);
  }

  async shutdown(): Promise<void> {}
}

export const loggingProvider: BuiltinProvider = {
  name: 'Logging',
  async start(context) {
    return new LoggingProvider(context);
  },
};
