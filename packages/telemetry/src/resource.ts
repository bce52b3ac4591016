/** Who exports: the OpenTelemetry resource a host or a provider process reports as. */
import type { Attributes } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { Resource } from '@opentelemetry/resources';

/**
 * The resource a host (or a provider process) reports as: `service.name` (OTEL_SERVICE_NAME, else
 * `service`, default `cirrus-host`), `service.instance.id` (the host or provider id),
 * `service.version`, and OTEL_RESOURCE_ATTRIBUTES.
 */
export function hostResource(
  env: Readonly<Record<string, string | undefined>>,
  host: { id: string; version: string; service?: string },
): Resource {
  const attributes: Attributes = {};
  for (const pair of (env['OTEL_RESOURCE_ATTRIBUTES'] ?? '').split(',')) {
    const at = pair.indexOf('=');
    if (at <= 0) continue;
    const key = pair.slice(0, at).trim();
    try {
      attributes[key] = decodeURIComponent(pair.slice(at + 1).trim());
    } catch {
      // The specification discards an attribute whose value is not valid percent-encoding.
    }
  }
  const serviceName = env['OTEL_SERVICE_NAME']?.trim();
  return resourceFromAttributes({
    'service.name': host.service ?? 'cirrus-host',
    ...attributes,
    ...(serviceName === undefined || serviceName === '' ? {} : { 'service.name': serviceName }),
    'service.instance.id': host.id,
    'service.version': host.version,
  });
}
