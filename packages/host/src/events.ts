import { cloudEvent, eventSubject } from '@cirrus/protocol';
import type { EventName, Logger } from '@cirrus/protocol';
import { encodeJson } from '@cirrus/lattice';
import type { LatticeConnection } from '@cirrus/lattice';
import type { Clock, EventSink } from './ports.ts';

/** Publishes 1.x CloudEvents on `wasmbus.evt.<lattice>.<event>` with the host id as `source`. */
export function latticeEventSink(
  conn: LatticeConnection,
  lattice: string,
  hostId: string,
  clock: Clock,
  logger: Logger,
): EventSink {
  return {
    publish(name: EventName, data: object): void {
      const event = cloudEvent(name, hostId, data, crypto.randomUUID(), clock.now());
      try {
        conn.publish(eventSubject(lattice, name), encodeJson(event));
      } catch (err) {
        logger.warn('event not published', { event: name, error: String(err) });
      }
    },
  };
}
