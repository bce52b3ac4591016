import type { LatticeSnapshot, ProviderHealth } from '../../src/api-types.ts';
import { useRequestAction } from '../action-dialog.tsx';
import { ago, isoTime, isUnavailable } from '../format.ts';
import { Empty, Id } from '../widgets.tsx';

function Health(props: { health: ProviderHealth | undefined; nowMs: number }) {
  const { health } = props;
  if (health === undefined) {
    return (
      <span class="badge badge-muted" title="No health event has come for this provider yet">
        unknown
      </span>
    );
  }
  return (
    <span title={`Last health event ${isoTime(health.atMs)}`}>
      <span class={health.healthy ? 'badge badge-ok' : 'badge badge-error'}>
        {health.healthy ? 'healthy' : 'failing'}
      </span>{' '}
      <span class="muted">{ago(health.atMs, props.nowMs)}</span>
    </span>
  );
}

export function ProvidersView(props: { snapshot: LatticeSnapshot }) {
  const { snapshot } = props;
  const request = useRequestAction();
  const health = new Map(snapshot.providerHealth.map((h) => [`${h.hostId}\u0000${h.providerId}`, h]));
  const hosts = snapshot.hosts;
  if (hosts.length === 0) return <Empty>No hosts, so no providers.</Empty>;
  return (
    <div>
      {hosts.map((host, index) => (
        <section key={host.info.id} class="card" aria-labelledby={`provider-host-${index}`}>
          <h3 id={`provider-host-${index}`}>
            {host.info.friendly_name} <Id id={host.info.id} />{' '}
            {host.stale && <span class="badge badge-stale">stale</span>}
          </h3>
          {isUnavailable(host.inventory) ? (
            <p class="text-warn">
              Inventory unavailable: <code>{host.inventory.unavailable.code}</code>{' '}
              {host.inventory.unavailable.message}
            </p>
          ) : host.inventory.providers.length === 0 ? (
            <Empty>No providers on this host.</Empty>
          ) : (
            <div class="table-wrap">
              <table>
                <caption class="visually-hidden">Providers on {host.info.friendly_name}</caption>
                <thead>
                  <tr>
                    <th scope="col">Id</th>
                    <th scope="col">Name</th>
                    <th scope="col">Image</th>
                    <th scope="col">Health</th>
                    <th scope="col">Actions</th>
                  </tr>
                </thead>
                <tbody>
                  {host.inventory.providers.map((provider) => (
                    <tr key={provider.id}>
                      <th scope="row">
                        <code>{provider.id}</code>
                      </th>
                      <td>{provider.name ?? <span class="muted">—</span>}</td>
                      <td>
                        <code>{provider.image_ref ?? '—'}</code>
                      </td>
                      <td>
                        <Health
                          health={health.get(`${host.info.id}\u0000${provider.id}`)}
                          nowMs={snapshot.takenAtMs}
                        />
                      </td>
                      <td>
                        <button
                          type="button"
                          onClick={() =>
                            request({ kind: 'stop-provider', hostId: host.info.id, providerId: provider.id })
                          }
                        >
                          Stop<span class="visually-hidden"> {provider.id}</span>
                        </button>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </section>
      ))}
    </div>
  );
}
