/**
 * Turns tracing on for this process: OpenTelemetry's tracer provider behind the API the packages
 * record spans through, a batch exporter to the OTLP target, the W3C trace context as the
 * propagator, and an AsyncLocalStorage context manager so a span stays current across awaits. Until
 * this runs, every span in Cirrus is the API's no-op.
 */
import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import type { Resource } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import type { Sampler } from '@opentelemetry/sdk-trace';
import type { Logger } from '@cirrus/protocol';
import type { OtlpTracesTarget, TraceSampler } from './otlp-config.ts';

export interface Tracing {
  /** Exports the spans still queued, then turns tracing off again. */
  close(): Promise<void>;
}

export function startTracing(options: {
  target: OtlpTracesTarget;
  resource: Resource;
  logger: Logger;
}): Tracing {
  const { target } = options;
  const config = { url: target.url, timeoutMillis: target.timeoutMs };
  const exporter = target.protocol === 'http/json' ? new JsonExporter(config) : new ProtoExporter(config);
  const provider = new TracerProvider({
    resource: options.resource,
    sampler: sampler(target.sampler),
    spanProcessors: [
      new BatchSpanProcessor({
        exporter,
        scheduledDelayMillis: target.exportDelayMs,
        maxQueueSize: target.maxQueueSpans,
        maxExportBatchSize: Math.min(512, target.maxQueueSpans),
        exportTimeoutMillis: target.timeoutMs,
      }),
    ],
  });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  options.logger.info('exporting traces over OTLP', { url: target.url, sampler: target.sampler.kind });
  let closing: Promise<void> | undefined;
  return {
    close() {
      closing ??= provider.shutdown().then(
        () => {
          trace.disable();
          propagation.disable();
          context.disable();
        },
        (err: unknown) => options.logger.warn('traces not all exported', { error: String(err) }),
      );
      return closing;
    },
  };
}

function sampler(setting: TraceSampler): Sampler {
  switch (setting.kind) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(setting.ratio);
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(setting.ratio) });
  }
}
