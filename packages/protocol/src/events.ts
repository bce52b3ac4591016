import { eventType } from './subjects.ts';

/** CloudEvents 1.0 structured JSON, the envelope of every lattice event. */
export interface CloudEvent<T = Record<string, unknown>> {
  specversion: '1.0';
  id: string;
  type: string;
  source: string;
  datacontenttype: 'application/json';
  time: string;
  data: T;
}

export const EVENT_NAMES = [
  'host_started',
  'host_stopped',
  'host_heartbeat',
  'labels_changed',
  'component_scaled',
  'component_scale_failed',
  'provider_started',
  'provider_start_failed',
  'provider_stopped',
  'health_check_passed',
  'health_check_failed',
  'health_check_status',
  'linkdef_set',
  'linkdef_set_failed',
  'linkdef_deleted',
  'config_set',
  'config_deleted',
] as const;

export type EventName = (typeof EVENT_NAMES)[number];

export function cloudEvent<T>(
  name: EventName,
  source: string,
  data: T,
  id: string,
  time: Date,
): CloudEvent<T> {
  return {
    specversion: '1.0',
    id,
    type: eventType(name),
    source,
    datacontenttype: 'application/json',
    time: time.toISOString(),
    data,
  };
}
