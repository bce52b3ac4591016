import type { WadmModelSummary } from '@cirrus/apps';
import type { LatticeSnapshot } from '../../src/api-types.ts';
import { useRequestAction } from '../action-dialog.tsx';
import { isUnavailable } from '../format.ts';
import { Empty } from '../widgets.tsx';

/** wadm's status types; anything else gets the neutral colour. */
function statusClass(type: string | undefined): string {
  switch (type?.toLowerCase()) {
    case 'deployed':
      return 'badge badge-ok';
    case 'failed':
      return 'badge badge-error';
    case 'reconciling':
    case 'waiting':
      return 'badge badge-warn';
    default:
      return 'badge badge-muted';
  }
}

function Status(props: { status: { type: string; message?: string } | undefined }) {
  const type = props.status?.type ?? 'unknown';
  return (
    <span>
      <span class={statusClass(type)}>{type}</span>
      {props.status?.message !== undefined && props.status.message !== '' && (
        <span class="status-message"> {props.status.message}</span>
      )}
    </span>
  );
}

function AppCard(props: { model: WadmModelSummary; index: number }) {
  const { model, index } = props;
  const request = useRequestAction();
  const scalers = model.detailed_status?.scalers ?? [];
  return (
    <section class="card" aria-labelledby={`app-${index}`}>
      <h3 id={`app-${index}`}>
        {model.name} <span class="muted">{model.version}</span>
      </h3>
      {model.description !== undefined && model.description !== '' && <p>{model.description}</p>}
      <dl class="facts">
        <dt>Latest version</dt>
        <dd>{model.version}</dd>
        <dt>Deployed version</dt>
        <dd>{model.deployed_version ?? <span class="muted">not deployed</span>}</dd>
        <dt>Status</dt>
        <dd>
          <Status status={model.detailed_status?.status ?? { type: model.status }} />
        </dd>
      </dl>
      <div class="button-row">
        <button
          type="button"
          onClick={() => request({ kind: 'deploy-app', name: model.name, version: model.version })}
        >
          Deploy {model.version}
          <span class="visually-hidden"> of {model.name}</span>
        </button>
        <button type="button" onClick={() => request({ kind: 'undeploy-app', name: model.name })}>
          Undeploy<span class="visually-hidden"> {model.name}</span>
        </button>
      </div>
      {scalers.length === 0 ? (
        <Empty>No scalers reported.</Empty>
      ) : (
        <div class="table-wrap">
          <table>
            <caption class="visually-hidden">Scalers of {model.name}</caption>
            <thead>
              <tr>
                <th scope="col">Scaler</th>
                <th scope="col">Kind</th>
                <th scope="col">Status</th>
              </tr>
            </thead>
            <tbody>
              {scalers.map((scaler, row) => (
                <tr key={`${scaler.id}-${row}`}>
                  <th scope="row" title={scaler.id}>
                    {scaler.name}
                  </th>
                  <td>{scaler.kind}</td>
                  <td>
                    <Status status={scaler.status} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

export function AppsView(props: { snapshot: LatticeSnapshot }) {
  const { apps } = props.snapshot;
  if (isUnavailable(apps)) {
    return (
      <div class="notice notice-warn" role="status">
        <p>
          <strong>The application manager is not answering.</strong> Applications cannot be listed or changed
          until it does.
        </p>
        <p>
          <code>{apps.unavailable.code}</code>: {apps.unavailable.message}
        </p>
      </div>
    );
  }
  if (apps.length === 0) return <Empty>No applications have been put.</Empty>;
  return (
    <div>
      {apps.map((model, index) => (
        <AppCard key={model.name} model={model} index={index} />
      ))}
    </div>
  );
}
