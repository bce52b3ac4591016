/** Forms for what hosts do: scale components, start and stop providers, put and delete links. */
import type { LatticeSnapshot } from '../../src/api-types.ts';
import { useRequestAction } from '../action-dialog.tsx';
import { isUnavailable, splitList } from '../format.ts';
import { ActionForm, chosenHost, Field, HostSelect, Suggestions, useForm } from '../forms.tsx';

/** What the inventories say is running, for the forms' suggestions. */
function known(snapshot: LatticeSnapshot) {
  const components: string[] = [];
  const componentRefs: string[] = [];
  const providers: string[] = [];
  const providerRefs: string[] = [];
  for (const host of snapshot.hosts) {
    if (isUnavailable(host.inventory)) continue;
    for (const c of host.inventory.components) {
      components.push(c.id);
      componentRefs.push(c.image_ref);
    }
    for (const p of host.inventory.providers) {
      providers.push(p.id);
      if (p.image_ref !== undefined) providerRefs.push(p.image_ref);
    }
  }
  return { components, componentRefs, providers, providerRefs };
}

function ScaleForm(props: { snapshot: LatticeSnapshot }) {
  const request = useRequestAction();
  const { values, bind } = useForm({ host: '', ref: '', id: '', count: '1' });
  const count = Number(values.count);
  return (
    <ActionForm
      title="Scale a component"
      submitLabel="Scale"
      description="A count of 0 stops the component on that host."
      onSubmit={() => {
        if (!Number.isInteger(count) || count < 0) return;
        request({
          kind: 'scale-component',
          hostId: chosenHost(props.snapshot.hosts, values.host),
          componentRef: values.ref.trim(),
          componentId: values.id.trim(),
          count,
        });
      }}
    >
      <HostSelect hosts={props.snapshot.hosts} bound={bind('host')} />
      <Field label="Component reference" required bound={bind('ref')} list="known-component-refs" />
      <Field label="Component id" required bound={bind('id')} list="known-components" />
      <Field label="Count" type="number" required bound={bind('count')} />
    </ActionForm>
  );
}

function StartProviderForm(props: { snapshot: LatticeSnapshot }) {
  const request = useRequestAction();
  const { values, bind } = useForm({ host: '', ref: '', id: '' });
  return (
    <ActionForm
      title="Start a provider"
      submitLabel="Start"
      onSubmit={() =>
        request({
          kind: 'start-provider',
          hostId: chosenHost(props.snapshot.hosts, values.host),
          providerRef: values.ref.trim(),
          providerId: values.id.trim(),
        })
      }
    >
      <HostSelect hosts={props.snapshot.hosts} bound={bind('host')} />
      <Field label="Provider reference" required bound={bind('ref')} list="known-provider-refs" />
      <Field label="Provider id" required bound={bind('id')} list="known-providers" />
    </ActionForm>
  );
}

function StopProviderForm(props: { snapshot: LatticeSnapshot }) {
  const request = useRequestAction();
  const { values, bind } = useForm({ host: '', id: '' });
  return (
    <ActionForm
      title="Stop a provider"
      submitLabel="Stop"
      onSubmit={() =>
        request({
          kind: 'stop-provider',
          hostId: chosenHost(props.snapshot.hosts, values.host),
          providerId: values.id.trim(),
        })
      }
    >
      <HostSelect hosts={props.snapshot.hosts} bound={bind('host')} />
      <Field label="Provider id" required bound={bind('id')} list="known-providers" />
    </ActionForm>
  );
}

function PutLinkForm() {
  const request = useRequestAction();
  const { values, bind } = useForm({
    source: '',
    target: '',
    namespace: '',
    pkg: '',
    interfaces: '',
    name: 'default',
    sourceConfig: '',
    targetConfig: '',
  });
  return (
    <ActionForm
      title="Put a link"
      submitLabel="Put link"
      description="Lists are comma-separated."
      onSubmit={() =>
        request({
          kind: 'put-link',
          link: {
            source_id: values.source.trim(),
            target: values.target.trim(),
            name: values.name.trim() || 'default',
            wit_namespace: values.namespace.trim(),
            wit_package: values.pkg.trim(),
            interfaces: splitList(values.interfaces),
            source_config: splitList(values.sourceConfig),
            target_config: splitList(values.targetConfig),
          },
        })
      }
    >
      <Field label="Source id" required bound={bind('source')} list="known-ids" />
      <Field label="Target id" required bound={bind('target')} list="known-ids" />
      <Field label="WIT namespace" required bound={bind('namespace')} placeholder="wasi" />
      <Field label="WIT package" required bound={bind('pkg')} placeholder="keyvalue" />
      <Field label="Interfaces" required bound={bind('interfaces')} placeholder="store, atomics" />
      <Field label="Link name" bound={bind('name')} />
      <Field label="Source config" bound={bind('sourceConfig')} list="known-configs" />
      <Field label="Target config" bound={bind('targetConfig')} list="known-configs" />
    </ActionForm>
  );
}

function DeleteLinkForm() {
  const request = useRequestAction();
  const { values, bind } = useForm({ source: '', namespace: '', pkg: '', name: 'default' });
  return (
    <ActionForm
      title="Delete a link"
      submitLabel="Delete link"
      onSubmit={() =>
        request({
          kind: 'delete-link',
          sourceId: values.source.trim(),
          namespace: values.namespace.trim(),
          package: values.pkg.trim(),
          name: values.name.trim() || 'default',
        })
      }
    >
      <Field label="Source id" required bound={bind('source')} list="known-ids" />
      <Field label="WIT namespace" required bound={bind('namespace')} />
      <Field label="WIT package" required bound={bind('pkg')} />
      <Field label="Link name" bound={bind('name')} />
    </ActionForm>
  );
}

export function LatticeForms(props: { snapshot: LatticeSnapshot }) {
  const { snapshot } = props;
  const ids = known(snapshot);
  return (
    <>
      <Suggestions id="known-components" values={ids.components} />
      <Suggestions id="known-component-refs" values={ids.componentRefs} />
      <Suggestions id="known-providers" values={ids.providers} />
      <Suggestions id="known-provider-refs" values={ids.providerRefs} />
      <Suggestions id="known-ids" values={[...ids.components, ...ids.providers]} />
      <Suggestions id="known-configs" values={snapshot.configs} />
      <ScaleForm snapshot={snapshot} />
      <StartProviderForm snapshot={snapshot} />
      <StopProviderForm snapshot={snapshot} />
      <PutLinkForm />
      <DeleteLinkForm />
    </>
  );
}
