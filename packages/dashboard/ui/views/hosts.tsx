import type { LatticeSnapshot } from '../../src/api-types.ts';
import { ago, isoTime, isUnavailable } from '../format.ts';
import { Empty, Id, Labels } from '../widgets.tsx';

export function HostsView(props: { snapshot: LatticeSnapshot }) {
  const { hosts, takenAtMs } = props.snapshot;
  if (hosts.length === 0) return <Empty>No hosts have been seen in this lattice.</Empty>;
  return (
    <div class="table-wrap">
      <table>
        <caption class="visually-hidden">Hosts ({hosts.length})</caption>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Id</th>
            <th scope="col">Version</th>
            <th scope="col">Labels</th>
            <th scope="col">Uptime</th>
            <th scope="col">Last seen</th>
            <th scope="col">Inventory</th>
          </tr>
        </thead>
        <tbody>
          {hosts.map(({ info, stale, lastSeenMs, inventory }) => (
            <tr key={info.id} class={stale ? 'row-stale' : undefined}>
              <th scope="row">
                {info.friendly_name}{' '}
                {stale && (
                  <span
                    class="badge badge-stale"
                    title="No heartbeat for three intervals: the host may be gone"
                  >
                    stale
                  </span>
                )}
              </th>
              <td>
                <Id id={info.id} />
              </td>
              <td>{info.version}</td>
              <td>
                <Labels labels={info.labels} />
              </td>
              <td>{info.uptime_human}</td>
              <td title={isoTime(lastSeenMs)}>{ago(lastSeenMs, takenAtMs)}</td>
              <td>
                {isUnavailable(inventory) ? (
                  <span class="text-warn" title={inventory.unavailable.message}>
                    unavailable: <code>{inventory.unavailable.code}</code> {inventory.unavailable.message}
                  </span>
                ) : (
                  `${inventory.components.length} component(s), ${inventory.providers.length} provider(s)`
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
