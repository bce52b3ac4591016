/**
 * Spans around the work a request does, through OpenTelemetry's API. Until a tracer provider is
 * registered (`cirrus up` does it when an OTLP endpoint is configured) every call here goes to the
 * API's no-op implementation: no span is recorded and nothing is exported. The context travels
 * between hosts as W3C `traceparent` (and `tracestate`) in the NATS message headers, as wasmCloud 1.x
 * carries it.
 */
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { Attributes, Context, Span, TextMapGetter, TextMapSetter } from '@opentelemetry/api';
import { errorCode } from '@cirrus/protocol';
import type { MsgHeaders } from './port.ts';

export { SpanKind };
export type { Attributes, Context, Span };

const tracer = trace.getTracer('cirrus');

const headerSetter: TextMapSetter<Record<string, string>> = {
  set: (carrier, key, value) => {
    carrier[key] = value;
  },
};

const headerGetter: TextMapGetter<Readonly<Record<string, string | string[] | undefined>>> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => carrier[key] ?? carrier[key.toLowerCase()],
};

/**
 * Runs `work` in a new span, child of the active one (or of `parent`), and ends it when `work`
 * settles; a failure marks the span as an error with the failure's code as `error.type`.
 */
export function inSpan<T>(
  name: string,
  options: { kind: SpanKind; attributes?: Attributes; parent?: Context },
  work: (span: Span) => Promise<T>,
): Promise<T> {
  const parent = options.parent ?? context.active();
  const span = tracer.startSpan(name, { kind: options.kind, attributes: options.attributes ?? {} }, parent);
  if (!span.isRecording()) return context.with(trace.setSpan(parent, span), work, undefined, span);
  return context.with(trace.setSpan(parent, span), work, undefined, span).then(
    (value) => {
      span.end();
      return value;
    },
    (err: unknown) => {
      failed(span, err);
      span.end();
      throw err;
    },
  );
}

/**
 * The ids of the span current where this is called, for a log line to carry (`trace_id`,
 * `span_id`); none without a sampled span, so untraced logs stay as they were.
 */
export function activeTraceIds(): { trace_id: string; span_id: string } | undefined {
  const span = trace.getSpan(context.active());
  if (span === undefined || !span.isRecording()) return undefined;
  const { traceId, spanId } = span.spanContext();
  return { trace_id: traceId, span_id: spanId };
}

/** Marks `span` as failed by `err`. */
export function failed(span: Span, err: unknown): void {
  span.setAttribute('error.type', errorCode(err));
  span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
}

/** `headers` with the active trace context added (`traceparent`, `tracestate`); unchanged without one. */
export function withTraceHeaders(headers: Record<string, string>): Record<string, string> {
  propagation.inject(context.active(), headers, headerSetter);
  return headers;
}

/** The trace context the sender put in `headers` (NATS or HTTP), or the active one if it put none. */
export function traceContextOf(
  headers: MsgHeaders | Readonly<Record<string, string | string[] | undefined>> | undefined,
): Context {
  if (headers === undefined) return context.active();
  return propagation.extract(context.active(), headers, headerGetter);
}
