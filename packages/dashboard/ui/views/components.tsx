import { useState } from 'preact/hooks';
import type { ComponentDescription, StringMap } from '@cirrus/protocol';
import type { LatticeSnapshot, MetricsReport } from '../../src/api-types.ts';
import { useRequestAction } from '../action-dialog.tsx';
import { isUnavailable } from '../format.ts';
import { Empty, Id, UnavailableNotice } from '../widgets.tsx';
import { RequestChart } from './request-chart.tsx';

interface Placement {
  hostId: string;
  hostName: string;
  stale: boolean;
  description: ComponentDescription;
}

/** Inventories list components per host; the view wants hosts per component. */
function byComponent(snapshot: LatticeSnapshot): Map<string, Placement[]> {
  const components = new Map<string, Placement[]>();
  for (const host of snapshot.hosts) {
    if (isUnavailable(host.inventory)) continue;
    for (const description of host.inventory.components) {
      const placement = {
        hostId: host.info.id,
        hostName: host.info.friendly_name,
        stale: host.stale,
        description,
      };
      const list = components.get(description.id);
      if (list === undefined) components.set(description.id, [placement]);
      else list.push(placement);
    }
  }
  return new Map([...components].sort(([a], [b]) => a.localeCompare(b)));
}

/**
 * Claims are keyed by the component's public key, which the inventory does not carry; a claim that
 * names the component (by `sub`, `name` or `call_alias`) is the best match there is.
 */
const CLAIM_KEYS = ['sub', 'name', 'call_alias'] as const;

function findClaim(claims: StringMap[], candidates: string[]): StringMap | undefined {
  return claims.find((claim) =>
    CLAIM_KEYS.some((key) => {
      const value = claim[key];
      return value !== undefined && candidates.includes(value);
    }),
  );
}

function Claim(props: { claims: LatticeSnapshot['claims']; candidates: string[] }) {
  if (isUnavailable(props.claims)) {
    return <span class="text-warn">claims unavailable: {props.claims.unavailable.message}</span>;
  }
  const claim = findClaim(props.claims, props.candidates);
  if (claim === undefined) return <span class="badge badge-muted">unsigned</span>;
  return (
    <span>
      <span class="badge badge-ok">signed</span>
      {claim.name !== undefined && <> name {claim.name}</>}
      {claim.iss !== undefined && (
        <>
          {' '}
          issuer <Id id={claim.iss} />
        </>
      )}
      {claim.sub !== undefined && (
        <>
          {' '}
          subject <Id id={claim.sub} />
        </>
      )}
    </span>
  );
}

function ScaleControl(props: { placement: Placement; componentId: string; inputId: string }) {
  const { placement, componentId, inputId } = props;
  const [count, setCount] = useState(String(placement.description.max_instances));
  const request = useRequestAction();
  const parsed = Number(count);
  const valid = count.trim() !== '' && Number.isInteger(parsed) && parsed >= 0;
  const scale = (value: number) =>
    request({
      kind: 'scale-component',
      hostId: placement.hostId,
      componentRef: placement.description.image_ref,
      componentId,
      count: value,
    });
  return (
    <form
      class="inline-form"
      onSubmit={(event) => {
        event.preventDefault();
        if (valid) scale(parsed);
      }}
    >
      <label class="visually-hidden" for={inputId}>
        Instances of {componentId} on {placement.hostName}
      </label>
      <input
        id={inputId}
        type="number"
        min="0"
        step="1"
        class="narrow"
        value={count}
        onInput={(event) => setCount(event.currentTarget.value)}
      />
      <button type="submit" disabled={!valid}>
        Scale
      </button>
      <button type="button" onClick={() => scale(0)}>
        Stop
      </button>
    </form>
  );
}

export function ComponentsView(props: { snapshot: LatticeSnapshot; metrics: MetricsReport | undefined }) {
  const { snapshot, metrics } = props;
  const components = byComponent(snapshot);
  const missing = snapshot.hosts.filter((host) => isUnavailable(host.inventory));
  return (
    <div>
      {missing.length > 0 && (
        <p class="notice notice-warn" role="status">
          The inventory of {missing.length} host(s) could not be read, so their components are not listed:{' '}
          {missing.map((host) => host.info.friendly_name).join(', ')}.
        </p>
      )}
      {isUnavailable(snapshot.claims) && <UnavailableNotice what="Claims" value={snapshot.claims} />}
      {metrics !== undefined && metrics.unavailable.length > 0 && (
        <p class="muted" role="status">
          No request figures from {metrics.unavailable.length} host(s):{' '}
          {metrics.unavailable.map((h) => `${h.hostId.slice(0, 8)}… (${h.code})`).join(', ')}.
        </p>
      )}
      {components.size === 0 && <Empty>No components are running.</Empty>}
      {[...components].map(([id, placements], index) => {
        const images = [...new Set(placements.map((p) => p.description.image_ref))];
        const names = placements.flatMap((p) =>
          p.description.name === undefined ? [] : [p.description.name],
        );
        const total = placements.reduce((sum, p) => sum + p.description.max_instances, 0);
        return (
          <section key={id} class="card" aria-labelledby={`component-${index}`}>
            <h3 id={`component-${index}`}>
              <code>{id}</code>
              {names[0] !== undefined && names[0] !== id && <span class="muted"> ({names[0]})</span>}
            </h3>
            <dl class="facts">
              <dt>Image</dt>
              <dd>
                {images.map((image) => (
                  <code key={image} class="block">
                    {image}
                  </code>
                ))}
              </dd>
              <dt>Claims</dt>
              <dd>
                <Claim claims={snapshot.claims} candidates={[id, ...names]} />
              </dd>
              <dt>Instances</dt>
              <dd>{total} in all</dd>
            </dl>
            <RequestChart componentId={id} report={metrics} />
            <table>
              <caption class="visually-hidden">Instances of {id} per host</caption>
              <thead>
                <tr>
                  <th scope="col">Host</th>
                  <th scope="col">Max instances</th>
                  <th scope="col">Revision</th>
                  <th scope="col">Scale</th>
                </tr>
              </thead>
              <tbody>
                {placements.map((placement, row) => (
                  <tr key={placement.hostId}>
                    <th scope="row">
                      {placement.hostName} <Id id={placement.hostId} />{' '}
                      {placement.stale && <span class="badge badge-stale">stale</span>}
                    </th>
                    <td>{placement.description.max_instances}</td>
                    <td>{placement.description.revision}</td>
                    <td>
                      {/* Keyed by the count so the field follows the lattice after a scale elsewhere. */}
                      <ScaleControl
                        key={placement.description.max_instances}
                        placement={placement}
                        componentId={id}
                        inputId={`scale-${index}-${row}`}
                      />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </section>
        );
      })}
    </div>
  );
}
