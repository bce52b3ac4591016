import { useState } from 'preact/hooks';
import type { ConfigValues, LatticeSnapshot } from '../../src/api-types.ts';
import { type ApiFailure, describeFailure, getConfig } from '../api.ts';
import { useRequestAction } from '../action-dialog.tsx';
import { entries } from '../format.ts';
import { Empty, FailureNotice } from '../widgets.tsx';

type Shown =
  | { state: 'hidden' }
  | { state: 'loading' }
  | { state: 'shown'; config: ConfigValues }
  | { state: 'failed'; failure: ApiFailure };

function ConfigEntry(props: { name: string; index: number }) {
  const { name, index } = props;
  const [shown, setShown] = useState<Shown>({ state: 'hidden' });
  const request = useRequestAction();
  const valuesId = `config-values-${index}`;

  const reveal = async (): Promise<void> => {
    setShown({ state: 'loading' });
    try {
      setShown({ state: 'shown', config: await getConfig(name) });
    } catch (error) {
      setShown({ state: 'failed', failure: describeFailure(error) });
    }
  };

  const open = shown.state !== 'hidden';
  return (
    <li class="config-entry">
      <div class="config-head">
        <code class="config-name">{name}</code>
        <button
          type="button"
          aria-expanded={open}
          aria-controls={valuesId}
          // Hiding drops the values, so secrets do not linger in the page once the user looks away.
          onClick={() => (open ? setShown({ state: 'hidden' }) : void reveal())}
        >
          {open ? 'Hide values' : 'Show values'}
          <span class="visually-hidden"> of {name}</span>
        </button>
        {shown.state === 'shown' && (
          <button type="button" onClick={() => void reveal()}>
            Reload<span class="visually-hidden"> {name}</span>
          </button>
        )}
        <button type="button" onClick={() => request({ kind: 'delete-config', name })}>
          Delete<span class="visually-hidden"> {name}</span>
        </button>
      </div>
      <div id={valuesId}>
        {shown.state === 'loading' && (
          <p class="muted" role="status">
            Loading…
          </p>
        )}
        {shown.state === 'failed' && (
          <FailureNotice failure={shown.failure} title="Could not read the values" />
        )}
        {shown.state === 'shown' &&
          (shown.config.values === undefined ? (
            <p class="muted">No config has this name (any more).</p>
          ) : entries(shown.config.values).length === 0 ? (
            <p class="muted">This config is empty.</p>
          ) : (
            <table class="kv">
              <caption class="visually-hidden">Values of {name}</caption>
              <thead>
                <tr>
                  <th scope="col">Key</th>
                  <th scope="col">Value</th>
                </tr>
              </thead>
              <tbody>
                {entries(shown.config.values).map(([key, value]) => (
                  <tr key={key}>
                    <th scope="row">
                      <code>{key}</code>
                    </th>
                    <td>
                      <code class="value">{value}</code>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          ))}
      </div>
    </li>
  );
}

export function ConfigView(props: { snapshot: LatticeSnapshot }) {
  const names = [...props.snapshot.configs].sort((a, b) => a.localeCompare(b));
  if (names.length === 0) return <Empty>No named configs are known.</Empty>;
  return (
    <div>
      <p class="muted">Values stay hidden until you ask for them.</p>
      <ul class="config-list">
        {names.map((name, index) => (
          <ConfigEntry key={name} name={name} index={index} />
        ))}
      </ul>
    </div>
  );
}
