/**
 * Keeping the page current: the snapshot is fetched once, then again only when the event stream says
 * something changed (never on a timer), and the last good snapshot stays on screen when a fetch fails.
 */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import type { CloudEvent } from '@cirrus/protocol';
import type { DashboardEvent, LatticeSnapshot, MetricsReport } from '../src/api-types.ts';
import { type ApiFailure, describeFailure, getLattice, getSession } from './api.ts';

/** Events often come in bursts (a scale emits several): one fetch answers the whole burst. */
const REFRESH_DEBOUNCE_MS = 250;
export const EVENT_CAP = 500;

export interface LatticeState {
  snapshot: LatticeSnapshot | undefined;
  /** The last refresh's failure; the snapshot, if any, is older than it. */
  error: ApiFailure | undefined;
  loading: boolean;
  /** Ask for a refresh soon; calls close together share one fetch. */
  refresh: () => void;
}

export function useLattice(enabled: boolean): LatticeState {
  const [snapshot, setSnapshot] = useState<LatticeSnapshot>();
  const [error, setError] = useState<ApiFailure>();
  const [loading, setLoading] = useState(false);
  const control = useRef({ timer: 0, inFlight: false, again: false });

  const run = useCallback(async (): Promise<void> => {
    const c = control.current;
    c.timer = 0;
    // At most one fetch in flight: a request made meanwhile is remembered and served after it.
    if (c.inFlight) {
      c.again = true;
      return;
    }
    c.inFlight = true;
    setLoading(true);
    try {
      setSnapshot(await getLattice());
      setError(undefined);
    } catch (failure) {
      setError(describeFailure(failure));
    } finally {
      c.inFlight = false;
      setLoading(false);
      if (c.again) {
        c.again = false;
        c.timer = window.setTimeout(() => void run(), REFRESH_DEBOUNCE_MS);
      }
    }
  }, []);

  const refresh = useCallback(() => {
    const c = control.current;
    if (c.timer === 0) c.timer = window.setTimeout(() => void run(), REFRESH_DEBOUNCE_MS);
  }, [run]);

  useEffect(() => {
    if (!enabled) return undefined;
    void run();
    return () => {
      window.clearTimeout(control.current.timer);
      control.current.timer = 0;
    };
  }, [enabled, run]);

  return { snapshot, error, loading, refresh };
}

export interface ReceivedEvent {
  /** Local and increasing: event ids come from many hosts and are not guaranteed unique. */
  seq: number;
  receivedAtMs: number;
  event: CloudEvent;
}

export type StreamState = 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface EventStream {
  events: ReceivedEvent[];
  /** The components' request figures, as the server last pushed them. */
  metrics: MetricsReport | undefined;
  state: StreamState;
  /** Only for a stream the browser gave up on (the server refused it); otherwise it retries itself. */
  reconnect: () => void;
  clear: () => void;
}

function parseMessage(data: unknown): DashboardEvent | undefined {
  if (typeof data !== 'string') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  if ('metrics' in parsed) {
    const metrics = parsed.metrics as Partial<MetricsReport> | null;
    return typeof metrics === 'object' && metrics !== null && Array.isArray(metrics.components)
      ? { metrics: metrics as MetricsReport }
      : undefined;
  }
  const event = (parsed as { event?: Partial<CloudEvent> | null }).event;
  if (typeof event !== 'object' || event === null || typeof event.type !== 'string') return undefined;
  return { event: event as CloudEvent };
}

export function useEventStream(enabled: boolean, onChange: () => void): EventStream {
  const [events, setEvents] = useState<ReceivedEvent[]>([]);
  const [metrics, setMetrics] = useState<MetricsReport>();
  const [state, setState] = useState<StreamState>('connecting');
  const [generation, setGeneration] = useState(0);
  const onChangeRef = useRef(onChange);
  onChangeRef.current = onChange;
  const seq = useRef(0);

  useEffect(() => {
    if (!enabled) return undefined;
    setState('connecting');
    const source = new EventSource('/api/events');
    let wasDown = false;
    source.onopen = () => {
      setState('open');
      // Whatever happened while the stream was down was missed: catch up once.
      if (wasDown) onChangeRef.current();
      wasDown = false;
    };
    source.onerror = () => {
      wasDown = true;
      if (source.readyState !== EventSource.CLOSED) {
        setState('reconnecting');
        return;
      }
      setState('closed');
      // The browser gives up only when the server refuses the stream; if that is because the session
      // is gone, one session request finds out (its 401 switches the page to the sign-in notice).
      getSession().catch(() => undefined);
    };
    source.onmessage = (message: MessageEvent<unknown>) => {
      const parsed = parseMessage(message.data);
      if (parsed === undefined) return;
      if ('metrics' in parsed) {
        setMetrics(parsed.metrics);
        return;
      }
      const { event } = parsed;
      seq.current += 1;
      const received: ReceivedEvent = { seq: seq.current, receivedAtMs: Date.now(), event };
      setEvents((previous) => [received, ...previous].slice(0, EVENT_CAP));
      onChangeRef.current();
    };
    return () => source.close();
  }, [enabled, generation]);

  const reconnect = useCallback(() => setGeneration((g) => g + 1), []);
  const clear = useCallback(() => setEvents([]), []);
  return { events, metrics, state, reconnect, clear };
}
