/**
 * Decodes OTLP export requests (traces and metrics) into one plain shape, whichever encoding the
 * exporter chose: protobuf is first read into the tree OTLP JSON parses to (otlp-protobuf.ts), so
 * one normalizer serves both and what a test sees cannot depend on the exporter's choice.
 */
import { readMetricsRequest, readTraceRequest } from './otlp-protobuf.ts';

/**
 * An AnyValue: int_value as a bigint (exact, and told apart from a double), bytes_value as bytes,
 * array_value as an array, kvlist_value as a record, and null when nothing is set.
 */
export type AttributeValue =
  string | number | boolean | bigint | Uint8Array | null | AttributeValue[] | Attributes;

export interface Attributes {
  [key: string]: AttributeValue;
}

export interface InstrumentationScope {
  name: string;
  version: string;
}

export interface ReceivedSpan {
  /** Lowercase hex; '' when absent (parentSpanId of a root span). */
  traceId: string;
  spanId: string;
  parentSpanId: string;
  traceState: string;
  name: string;
  /** SpanKind: 0 unspecified, 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  startTimeUnixNano: bigint;
  endTimeUnixNano: bigint;
  attributes: Attributes;
  events: { name: string; timeUnixNano: bigint; attributes: Attributes }[];
  links: { traceId: string; spanId: string; attributes: Attributes }[];
  /** StatusCode: 0 unset, 1 ok, 2 error. */
  status: { code: number; message: string };
  flags: number;
  resource: Attributes;
  scope: InstrumentationScope;
}

export interface ReceivedNumberPoint {
  attributes: Attributes;
  startTimeUnixNano: bigint;
  timeUnixNano: bigint;
  /** as_int or as_double; undefined when the point carries neither (no recorded value). */
  value: number | undefined;
}

export interface ReceivedHistogramPoint {
  attributes: Attributes;
  startTimeUnixNano: bigint;
  timeUnixNano: bigint;
  count: number;
  sum: number | undefined;
  min: number | undefined;
  max: number | undefined;
  bucketCounts: number[];
  explicitBounds: number[];
}

interface MetricCommon {
  name: string;
  description: string;
  unit: string;
  metadata: Attributes;
  resource: Attributes;
  scope: InstrumentationScope;
}

/** `temporality` is an AggregationTemporality: 0 unspecified, 1 delta, 2 cumulative. */
export type ReceivedMetric = MetricCommon &
  (
    | { kind: 'sum'; monotonic: boolean; temporality: number; dataPoints: ReceivedNumberPoint[] }
    | { kind: 'gauge'; dataPoints: ReceivedNumberPoint[] }
    | { kind: 'histogram'; temporality: number; dataPoints: ReceivedHistogramPoint[] }
  );

export type OtlpEncoding = 'protobuf' | 'json';

/** Decodes an ExportTraceServiceRequest; throws on a malformed body. */
export function decodeTraces(body: Uint8Array, encoding: OtlpEncoding): ReceivedSpan[] {
  const request = encoding === 'json' ? parseJson(body) : readTraceRequest(body);
  return messages(request, 'resourceSpans').flatMap((resourceSpans) => {
    const resource = attributes(message(resourceSpans, 'resource'), 'attributes');
    return messages(resourceSpans, 'scopeSpans').flatMap((scopeSpans) => {
      const scope = instrumentationScope(message(scopeSpans, 'scope'));
      return messages(scopeSpans, 'spans').map((span) => ({
        traceId: hexId(span, 'traceId'),
        spanId: hexId(span, 'spanId'),
        parentSpanId: hexId(span, 'parentSpanId'),
        traceState: text(span, 'traceState'),
        name: text(span, 'name'),
        kind: smallInt(span, 'kind'),
        startTimeUnixNano: int64(span, 'startTimeUnixNano'),
        endTimeUnixNano: int64(span, 'endTimeUnixNano'),
        attributes: attributes(span, 'attributes'),
        events: messages(span, 'events').map((event) => ({
          name: text(event, 'name'),
          timeUnixNano: int64(event, 'timeUnixNano'),
          attributes: attributes(event, 'attributes'),
        })),
        links: messages(span, 'links').map((link) => ({
          traceId: hexId(link, 'traceId'),
          spanId: hexId(link, 'spanId'),
          attributes: attributes(link, 'attributes'),
        })),
        status: {
          code: smallInt(message(span, 'status'), 'code'),
          message: text(message(span, 'status'), 'message'),
        },
        flags: smallInt(span, 'flags'),
        resource,
        scope,
      }));
    });
  });
}

/**
 * Decodes an ExportMetricsServiceRequest; throws on a malformed body. Metrics of the kinds the
 * normalized shape does not model (exponential histograms, summaries) are left out.
 */
export function decodeMetrics(body: Uint8Array, encoding: OtlpEncoding): ReceivedMetric[] {
  const request = encoding === 'json' ? parseJson(body) : readMetricsRequest(body);
  return messages(request, 'resourceMetrics').flatMap((resourceMetrics) => {
    const resource = attributes(message(resourceMetrics, 'resource'), 'attributes');
    return messages(resourceMetrics, 'scopeMetrics').flatMap((scopeMetrics) => {
      const scope = instrumentationScope(message(scopeMetrics, 'scope'));
      return messages(scopeMetrics, 'metrics').flatMap((metric): ReceivedMetric[] => {
        const common: MetricCommon = {
          name: text(metric, 'name'),
          description: text(metric, 'description'),
          unit: text(metric, 'unit'),
          metadata: attributes(metric, 'metadata'),
          resource,
          scope,
        };
        if (metric['sum'] != null) {
          const sum = message(metric, 'sum');
          return [
            {
              ...common,
              kind: 'sum',
              monotonic: flag(sum, 'isMonotonic'),
              temporality: smallInt(sum, 'aggregationTemporality'),
              dataPoints: messages(sum, 'dataPoints').map(numberPoint),
            },
          ];
        }
        if (metric['gauge'] != null) {
          return [
            {
              ...common,
              kind: 'gauge',
              dataPoints: messages(message(metric, 'gauge'), 'dataPoints').map(numberPoint),
            },
          ];
        }
        if (metric['histogram'] != null) {
          const histogram = message(metric, 'histogram');
          return [
            {
              ...common,
              kind: 'histogram',
              temporality: smallInt(histogram, 'aggregationTemporality'),
              dataPoints: messages(histogram, 'dataPoints').map(histogramPoint),
            },
          ];
        }
        return [];
      });
    });
  });
}

function numberPoint(point: Json): ReceivedNumberPoint {
  return {
    attributes: attributes(point, 'attributes'),
    startTimeUnixNano: int64(point, 'startTimeUnixNano'),
    timeUnixNano: int64(point, 'timeUnixNano'),
    value: point['asInt'] != null ? Number(int64(point, 'asInt')) : optionalDouble(point, 'asDouble'),
  };
}

function histogramPoint(point: Json): ReceivedHistogramPoint {
  return {
    attributes: attributes(point, 'attributes'),
    startTimeUnixNano: int64(point, 'startTimeUnixNano'),
    timeUnixNano: int64(point, 'timeUnixNano'),
    count: Number(int64(point, 'count')),
    sum: optionalDouble(point, 'sum'),
    min: optionalDouble(point, 'min'),
    max: optionalDouble(point, 'max'),
    bucketCounts: list(point, 'bucketCounts').map((count) => Number(toInt64(count, 'bucketCounts'))),
    explicitBounds: list(point, 'explicitBounds').map((bound) => toDouble(bound, 'explicitBounds')),
  };
}

function instrumentationScope(scope: Json): InstrumentationScope {
  return { name: text(scope, 'name'), version: text(scope, 'version') };
}

function attributes(owner: Json, key: string): Attributes {
  const out: Attributes = {};
  for (const entry of messages(owner, key)) out[text(entry, 'key')] = anyValue(message(entry, 'value'));
  return out;
}

function anyValue(value: Json): AttributeValue {
  if (value['stringValue'] != null) return text(value, 'stringValue');
  if (value['boolValue'] != null) return flag(value, 'boolValue');
  if (value['intValue'] != null) return int64(value, 'intValue');
  if (value['doubleValue'] != null) return toDouble(value['doubleValue'], 'doubleValue');
  if (value['arrayValue'] != null) return messages(message(value, 'arrayValue'), 'values').map(anyValue);
  if (value['kvlistValue'] != null) return attributes(message(value, 'kvlistValue'), 'values');
  if (value['bytesValue'] != null) return bytes(value, 'bytesValue');
  return null;
}

// ---- Reading the decoded tree. Absent fields read as proto3 defaults; a field of the wrong type
// throws, naming it, so a malformed body is refused rather than half-recorded.

type Json = { readonly [key: string]: unknown };

function kindOf(value: unknown): string {
  return Array.isArray(value) ? 'an array' : value === null ? 'null' : typeof value;
}

function asObject(value: unknown, what: string): Json {
  if (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    !(value instanceof Uint8Array)
  ) {
    return value as Json;
  }
  throw new Error(`${what}: expected an object, got ${kindOf(value)}`);
}

function message(owner: Json, key: string): Json {
  const value = owner[key];
  return value == null ? {} : asObject(value, key);
}

function list(owner: Json, key: string): unknown[] {
  const value = owner[key];
  if (value == null) return [];
  if (Array.isArray(value)) return value;
  throw new Error(`${key}: expected an array, got ${kindOf(value)}`);
}

function messages(owner: Json, key: string): Json[] {
  return list(owner, key).map((value) => asObject(value, key));
}

function text(owner: Json, key: string): string {
  const value = owner[key];
  if (value == null) return '';
  if (typeof value === 'string') return value;
  throw new Error(`${key}: expected a string, got ${kindOf(value)}`);
}

function flag(owner: Json, key: string): boolean {
  const value = owner[key];
  if (value == null) return false;
  if (typeof value === 'boolean') return value;
  throw new Error(`${key}: expected a boolean, got ${kindOf(value)}`);
}

/** Enums and 32-bit fields: OTLP JSON writes enums as integers, never by name. */
function smallInt(owner: Json, key: string): number {
  const value = owner[key];
  if (value == null) return 0;
  if (Number.isSafeInteger(value)) return value as number;
  throw new Error(`${key}: expected an integer, got ${kindOf(value)}`);
}

function int64(owner: Json, key: string): bigint {
  const value = owner[key];
  return value == null ? 0n : toInt64(value, key);
}

/** JSON carries 64-bit integers as decimal strings or as numbers. */
function toInt64(value: unknown, what: string): bigint {
  if (typeof value === 'bigint') return value;
  if (Number.isSafeInteger(value)) return BigInt(value as number);
  if (typeof value === 'string' && /^-?\d+$/.test(value)) return BigInt(value);
  throw new Error(`${what}: expected a 64-bit integer, got ${kindOf(value)}`);
}

function optionalDouble(owner: Json, key: string): number | undefined {
  const value = owner[key];
  return value == null ? undefined : toDouble(value, key);
}

/** JSON may carry doubles as strings too, and must for NaN and the infinities. */
function toDouble(value: unknown, what: string): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'string' && value.trim() !== '' && (value === 'NaN' || !Number.isNaN(Number(value)))) {
    return Number(value);
  }
  throw new Error(`${what}: expected a double, got ${kindOf(value)}`);
}

/** Trace and span ids are hex in OTLP JSON (unlike other bytes, which are base64). */
function hexId(owner: Json, key: string): string {
  const value = owner[key];
  if (value == null) return '';
  if (typeof value === 'string' && /^(?:[0-9a-f]{2})*$/i.test(value)) return value.toLowerCase();
  throw new Error(
    `${key}: expected a hex id, got ${typeof value === 'string' ? `'${value}'` : kindOf(value)}`,
  );
}

function bytes(owner: Json, key: string): Uint8Array {
  const value = owner[key];
  if (value instanceof Uint8Array) return value;
  if (typeof value === 'string') return new Uint8Array(Buffer.from(value, 'base64'));
  throw new Error(`${key}: expected bytes, got ${kindOf(value)}`);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function parseJson(body: Uint8Array): Json {
  return asObject(JSON.parse(utf8.decode(body), keepLargeIntegers), 'the request');
}

/** JSON.parse rounds integers beyond 2^53; the reviver's source text keeps them exact. */
function keepLargeIntegers(_key: string, value: unknown, context?: { source?: string }): unknown {
  const source = context?.source;
  if (
    typeof value === 'number' &&
    !Number.isSafeInteger(value) &&
    source !== undefined &&
    /^-?\d+$/.test(source)
  ) {
    return BigInt(source);
  }
  return value;
}
