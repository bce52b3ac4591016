import { useMemo, useState } from 'preact/hooks';
import { EVENT_CAP, type EventStream } from '../live.ts';
import { clockTime } from '../format.ts';
import { Empty } from '../widgets.tsx';

const TYPE_PREFIX = 'com.wasmcloud.lattice.';

function shortType(type: string): string {
  return type.startsWith(TYPE_PREFIX) ? type.slice(TYPE_PREFIX.length) : type;
}

function eventTime(time: unknown, fallbackMs: number): string {
  const ms = typeof time === 'string' ? Date.parse(time) : Number.NaN;
  return clockTime(Number.isNaN(ms) ? fallbackMs : ms);
}

function dataText(data: unknown): string {
  try {
    return JSON.stringify(data) ?? '';
  } catch {
    return '';
  }
}

export function EventsView(props: { stream: EventStream }) {
  const { events, clear } = props.stream;
  const [text, setText] = useState('');
  const [type, setType] = useState('');

  const indexed = useMemo(
    () => events.map((received) => ({ received, data: dataText(received.event.data) })),
    [events],
  );
  const types = useMemo(() => [...new Set(events.map((r) => r.event.type))].sort(), [events]);
  const needle = text.trim().toLowerCase();
  const shown = indexed.filter(
    ({ received, data }) =>
      (type === '' || received.event.type === type) &&
      (needle === '' ||
        received.event.type.toLowerCase().includes(needle) ||
        String(received.event.source).toLowerCase().includes(needle) ||
        data.toLowerCase().includes(needle)),
  );

  return (
    <div>
      <form class="filters" onSubmit={(event) => event.preventDefault()} role="search">
        <label>
          Text
          <input
            type="search"
            value={text}
            placeholder="id, source or data"
            onInput={(event) => setText(event.currentTarget.value)}
          />
        </label>
        <label>
          Type
          <select value={type} onChange={(event) => setType(event.currentTarget.value)}>
            <option value="">all types</option>
            {/* A chosen type stays selectable even after its last event scrolled out of the list. */}
            {type !== '' && !types.includes(type) && <option value={type}>{shortType(type)}</option>}
            {types.map((t) => (
              <option key={t} value={t}>
                {shortType(t)}
              </option>
            ))}
          </select>
        </label>
        <button type="button" onClick={clear} disabled={events.length === 0}>
          Clear
        </button>
      </form>
      <p class="muted">
        Showing {shown.length} of {events.length} event(s), newest first; the last {EVENT_CAP} are kept.
      </p>
      {shown.length === 0 ? (
        <Empty>{events.length === 0 ? 'No events yet.' : 'No event matches the filter.'}</Empty>
      ) : (
        <ol class="events">
          {shown.map(({ received, data }) => (
            <li key={received.seq}>
              <details>
                <summary>
                  <time class="event-time">{eventTime(received.event.time, received.receivedAtMs)}</time>{' '}
                  <span class="event-type" title={received.event.type}>
                    {shortType(received.event.type)}
                  </span>{' '}
                  <code class="event-data">{data}</code>
                </summary>
                <dl class="facts">
                  <dt>Type</dt>
                  <dd>{received.event.type}</dd>
                  <dt>Source</dt>
                  <dd>
                    <code>{String(received.event.source)}</code>
                  </dd>
                  <dt>Id</dt>
                  <dd>
                    <code>{String(received.event.id)}</code>
                  </dd>
                </dl>
                <pre class="json">{JSON.stringify(received.event.data, null, 2)}</pre>
              </details>
            </li>
          ))}
        </ol>
      )}
    </div>
  );
}
