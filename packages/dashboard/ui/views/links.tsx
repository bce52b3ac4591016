import type { Link } from '@cirrus/protocol';
import type { LatticeSnapshot } from '../../src/api-types.ts';
import { useRequestAction } from '../action-dialog.tsx';
import { isUnavailable, linkInterface } from '../format.ts';
import { Empty, UnavailableNotice } from '../widgets.tsx';
import { LinkGraph, type NodeKind } from './link-graph.tsx';

function nodeKinds(snapshot: LatticeSnapshot): Map<string, NodeKind> {
  const kinds = new Map<string, NodeKind>();
  for (const host of snapshot.hosts) {
    if (isUnavailable(host.inventory)) continue;
    for (const component of host.inventory.components) kinds.set(component.id, 'component');
    for (const provider of host.inventory.providers) kinds.set(provider.id, 'provider');
  }
  return kinds;
}

function ConfigNames(props: { names: string[] }) {
  if (!Array.isArray(props.names) || props.names.length === 0) return <span class="muted">none</span>;
  return <>{props.names.join(', ')}</>;
}

function LinkTable(props: { links: Link[] }) {
  const request = useRequestAction();
  return (
    <div class="table-wrap">
      <table>
        <caption class="visually-hidden">Links ({props.links.length})</caption>
        <thead>
          <tr>
            <th scope="col">Source</th>
            <th scope="col">Target</th>
            <th scope="col">Interface</th>
            <th scope="col">Name</th>
            <th scope="col">Source config</th>
            <th scope="col">Target config</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          {props.links.map((link, index) => (
            <tr key={index}>
              <th scope="row">
                <code>{link.source_id}</code>
              </th>
              <td>
                <code>{link.target}</code>
              </td>
              <td>
                <code>{linkInterface(link)}</code>
              </td>
              <td>{link.name}</td>
              <td>
                <ConfigNames names={link.source_config} />
              </td>
              <td>
                <ConfigNames names={link.target_config} />
              </td>
              <td>
                <button
                  type="button"
                  onClick={() =>
                    request({
                      kind: 'delete-link',
                      sourceId: link.source_id,
                      namespace: link.wit_namespace,
                      package: link.wit_package,
                      name: link.name,
                    })
                  }
                >
                  Delete<span class="visually-hidden"> link from {link.source_id}</span>
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function LinksView(props: { snapshot: LatticeSnapshot }) {
  const { links } = props.snapshot;
  if (isUnavailable(links)) return <UnavailableNotice what="Links" value={links} />;
  return (
    <div>
      {links.length === 0 ? <Empty>No links are defined.</Empty> : <LinkTable links={links} />}
      <h3>Graph</h3>
      <LinkGraph links={links} kinds={nodeKinds(props.snapshot)} />
    </div>
  );
}
