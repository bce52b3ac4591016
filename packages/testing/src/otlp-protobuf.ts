/**
 * Reads OTLP export requests in protobuf into the object tree their OTLP JSON encoding parses to:
 * the same lowerCamelCase field names, trace and span ids as hex strings, and repeated fields as
 * arrays, so that one normalizer (otlp-decode.ts) serves both encodings. Where JSON has a string or
 * a number, this gives 64-bit integers as bigints and bytes as Uint8Arrays.
 *
 * A small hand-written wire-format reader, driven by per-message field tables that follow
 * opentelemetry-proto (collector/{trace,metrics}/v1, trace/v1, metrics/v1, common/v1, resource/v1).
 * Only the fields the normalized shape carries are listed; the rest are skipped as unknown.
 */

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Reads an ExportTraceServiceRequest; throws on a malformed body. */
export function readTraceRequest(body: Uint8Array): Record<string, unknown> {
  return decodeMessage(body, EXPORT_TRACE_REQUEST);
}

/** Reads an ExportMetricsServiceRequest; throws on a malformed body. */
export function readMetricsRequest(body: Uint8Array): Record<string, unknown> {
  return decodeMessage(body, EXPORT_METRICS_REQUEST);
}

type Scalar =
  'string' | 'bytes' | 'id' | 'bool' | 'enum' | 'int64' | 'fixed64' | 'sfixed64' | 'fixed32' | 'double';

/** A field: its JSON name, its type (a message type as a thunk, since messages nest recursively). */
type Field = readonly [name: string, type: Scalar | (() => Schema), repeated?: 'repeated'];

type Schema = { readonly [fieldNumber: number]: Field };

const WIRE_TYPE: Record<Scalar, number> = {
  string: 2,
  bytes: 2,
  id: 2,
  bool: 0,
  enum: 0,
  int64: 0,
  fixed64: 1,
  sfixed64: 1,
  double: 1,
  fixed32: 5,
};

const KEY_VALUE: Schema = { 1: ['key', 'string'], 2: ['value', () => ANY_VALUE] };
const ANY_VALUE: Schema = {
  1: ['stringValue', 'string'],
  2: ['boolValue', 'bool'],
  3: ['intValue', 'int64'],
  4: ['doubleValue', 'double'],
  5: ['arrayValue', () => ARRAY_VALUE],
  6: ['kvlistValue', () => KEY_VALUE_LIST],
  7: ['bytesValue', 'bytes'],
};
const ARRAY_VALUE: Schema = { 1: ['values', () => ANY_VALUE, 'repeated'] };
const KEY_VALUE_LIST: Schema = { 1: ['values', () => KEY_VALUE, 'repeated'] };
const RESOURCE: Schema = { 1: ['attributes', () => KEY_VALUE, 'repeated'] };
const SCOPE: Schema = { 1: ['name', 'string'], 2: ['version', 'string'] };

const EVENT: Schema = {
  1: ['timeUnixNano', 'fixed64'],
  2: ['name', 'string'],
  3: ['attributes', () => KEY_VALUE, 'repeated'],
};
const LINK: Schema = {
  1: ['traceId', 'id'],
  2: ['spanId', 'id'],
  4: ['attributes', () => KEY_VALUE, 'repeated'],
};
const STATUS: Schema = { 2: ['message', 'string'], 3: ['code', 'enum'] };
const SPAN: Schema = {
  1: ['traceId', 'id'],
  2: ['spanId', 'id'],
  3: ['traceState', 'string'],
  4: ['parentSpanId', 'id'],
  5: ['name', 'string'],
  6: ['kind', 'enum'],
  7: ['startTimeUnixNano', 'fixed64'],
  8: ['endTimeUnixNano', 'fixed64'],
  9: ['attributes', () => KEY_VALUE, 'repeated'],
  11: ['events', () => EVENT, 'repeated'],
  13: ['links', () => LINK, 'repeated'],
  15: ['status', () => STATUS],
  16: ['flags', 'fixed32'],
};
const SCOPE_SPANS: Schema = { 1: ['scope', () => SCOPE], 2: ['spans', () => SPAN, 'repeated'] };
const RESOURCE_SPANS: Schema = {
  1: ['resource', () => RESOURCE],
  2: ['scopeSpans', () => SCOPE_SPANS, 'repeated'],
};
const EXPORT_TRACE_REQUEST: Schema = { 1: ['resourceSpans', () => RESOURCE_SPANS, 'repeated'] };

const NUMBER_POINT: Schema = {
  2: ['startTimeUnixNano', 'fixed64'],
  3: ['timeUnixNano', 'fixed64'],
  4: ['asDouble', 'double'],
  6: ['asInt', 'sfixed64'],
  7: ['attributes', () => KEY_VALUE, 'repeated'],
};
const HISTOGRAM_POINT: Schema = {
  2: ['startTimeUnixNano', 'fixed64'],
  3: ['timeUnixNano', 'fixed64'],
  4: ['count', 'fixed64'],
  5: ['sum', 'double'],
  6: ['bucketCounts', 'fixed64', 'repeated'],
  7: ['explicitBounds', 'double', 'repeated'],
  9: ['attributes', () => KEY_VALUE, 'repeated'],
  11: ['min', 'double'],
  12: ['max', 'double'],
};
const SUM: Schema = {
  1: ['dataPoints', () => NUMBER_POINT, 'repeated'],
  2: ['aggregationTemporality', 'enum'],
  3: ['isMonotonic', 'bool'],
};
const GAUGE: Schema = { 1: ['dataPoints', () => NUMBER_POINT, 'repeated'] };
const HISTOGRAM: Schema = {
  1: ['dataPoints', () => HISTOGRAM_POINT, 'repeated'],
  2: ['aggregationTemporality', 'enum'],
};
const METRIC: Schema = {
  1: ['name', 'string'],
  2: ['description', 'string'],
  3: ['unit', 'string'],
  5: ['gauge', () => GAUGE],
  7: ['sum', () => SUM],
  9: ['histogram', () => HISTOGRAM],
  12: ['metadata', () => KEY_VALUE, 'repeated'],
};
const SCOPE_METRICS: Schema = { 1: ['scope', () => SCOPE], 2: ['metrics', () => METRIC, 'repeated'] };
const RESOURCE_METRICS: Schema = {
  1: ['resource', () => RESOURCE],
  2: ['scopeMetrics', () => SCOPE_METRICS, 'repeated'],
};
const EXPORT_METRICS_REQUEST: Schema = { 1: ['resourceMetrics', () => RESOURCE_METRICS, 'repeated'] };

class WireReader {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  #offset = 0;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get done(): boolean {
    return this.#offset >= this.#bytes.length;
  }

  varint(): bigint {
    let value = 0n;
    for (let index = 0; index < 10; index++) {
      const byte = this.#view.getUint8(this.#advance(1));
      value |= BigInt(byte & 0x7f) << BigInt(7 * index);
      if (byte < 0x80) return BigInt.asUintN(64, value);
    }
    throw new Error(`a varint longer than 10 bytes at offset ${this.#offset}`);
  }

  fixed64(): bigint {
    return this.#view.getBigUint64(this.#advance(8), true);
  }

  sfixed64(): bigint {
    return this.#view.getBigInt64(this.#advance(8), true);
  }

  fixed32(): number {
    return this.#view.getUint32(this.#advance(4), true);
  }

  double(): number {
    return this.#view.getFloat64(this.#advance(8), true);
  }

  /** A length-delimited field's content (a view, not a copy). */
  delimited(): Uint8Array {
    const length = Number(this.varint());
    const start = this.#advance(length);
    return this.#bytes.subarray(start, start + length);
  }

  skip(wireType: number): void {
    if (wireType === 0) this.varint();
    else if (wireType === 1) this.#advance(8);
    else if (wireType === 2) this.delimited();
    else if (wireType === 5) this.#advance(4);
    else throw new Error(`unsupported wire type ${wireType} at offset ${this.#offset}`);
  }

  /** Moves past `length` bytes and returns where they start. */
  #advance(length: number): number {
    const start = this.#offset;
    const left = this.#bytes.length - start;
    if (length > left) throw new Error(`truncated: ${length} bytes needed at offset ${start}, ${left} left`);
    this.#offset += length;
    return start;
  }
}

function decodeMessage(bytes: Uint8Array, schema: Schema): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const reader = new WireReader(bytes);
  while (!reader.done) {
    const tag = reader.varint();
    const fieldNumber = Number(tag >> 3n);
    const wireType = Number(tag & 7n);
    if (fieldNumber === 0) throw new Error('field number 0');
    const field = schema[fieldNumber];
    if (field === undefined) {
      reader.skip(wireType);
      continue;
    }
    const [name, type, repeated] = field;
    const values = readField(reader, name, type, wireType, repeated === 'repeated');
    if (repeated === 'repeated') {
      const existing = (out[name] ??= []) as unknown[];
      for (const value of values) existing.push(value);
    } else {
      // Sent twice, the last one counts (protobuf would merge two messages; no OTLP writer relies on it).
      out[name] = values.at(-1);
    }
  }
  return out;
}

function readField(
  reader: WireReader,
  name: string,
  type: Scalar | (() => Schema),
  wireType: number,
  repeated: boolean,
): unknown[] {
  const expected = typeof type === 'function' ? 2 : WIRE_TYPE[type];
  // Writers pack repeated numbers into one length-delimited run, but parsers must take them unpacked too.
  if (repeated && typeof type !== 'function' && expected !== 2 && wireType === 2) {
    const run = new WireReader(reader.delimited());
    const values: unknown[] = [];
    while (!run.done) values.push(readScalar(run, type));
    return values;
  }
  if (wireType !== expected) throw new Error(`${name}: wire type ${wireType}, expected ${expected}`);
  return [typeof type === 'function' ? decodeMessage(reader.delimited(), type()) : readScalar(reader, type)];
}

function readScalar(reader: WireReader, type: Scalar): unknown {
  switch (type) {
    case 'string':
      return utf8.decode(reader.delimited());
    case 'bytes':
      return reader.delimited().slice();
    case 'id':
      return Buffer.from(reader.delimited()).toString('hex');
    case 'bool':
      return reader.varint() !== 0n;
    case 'enum':
      return Number(BigInt.asIntN(32, reader.varint()));
    case 'int64':
      return BigInt.asIntN(64, reader.varint());
    case 'fixed64':
      return reader.fixed64();
    case 'sfixed64':
      return reader.sfixed64();
    case 'double':
      return reader.double();
    case 'fixed32':
      return reader.fixed32();
  }
}
