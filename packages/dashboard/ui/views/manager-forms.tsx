/** Forms for named configs and for applications (the application manager's side). */
import { useState } from 'preact/hooks';
import type { LatticeSnapshot } from '../../src/api-types.ts';
import { useRequestAction } from '../action-dialog.tsx';
import { isUnavailable, parseKeyValues } from '../format.ts';
import { ActionForm, Field, Suggestions, useForm } from '../forms.tsx';

/** Manifests are a few kilobytes; a bigger file was almost certainly picked by mistake. */
const MAX_MANIFEST_BYTES = 1024 * 1024;

function PutConfigForm() {
  const request = useRequestAction();
  const { values, bind } = useForm({ name: '', lines: '' });
  const [error, setError] = useState<string>();
  return (
    <ActionForm
      title="Put a config"
      submitLabel="Put config"
      description="One key=value per line; the value is everything after the first =."
      onSubmit={() => {
        const parsed = parseKeyValues(values.lines);
        if (!parsed.ok) {
          setError(parsed.error);
          return;
        }
        setError(undefined);
        request({ kind: 'put-config', name: values.name.trim(), values: parsed.values });
      }}
    >
      <Field label="Config name" required bound={bind('name')} list="known-configs" />
      <label class="field field-wide">
        <span class="field-label">Values</span>
        <textarea
          rows={5}
          spellcheck={false}
          placeholder={'url=https://example.com\nretries=3'}
          aria-invalid={error !== undefined}
          aria-describedby={error === undefined ? undefined : 'put-config-error'}
          {...bind('lines')}
        />
      </label>
      {error !== undefined && (
        <p id="put-config-error" class="field-error" role="alert">
          {error}
        </p>
      )}
    </ActionForm>
  );
}

function DeleteConfigForm() {
  const request = useRequestAction();
  const { values, bind } = useForm({ name: '' });
  return (
    <ActionForm
      title="Delete a config"
      submitLabel="Delete config"
      onSubmit={() => request({ kind: 'delete-config', name: values.name.trim() })}
    >
      <Field label="Config name" required bound={bind('name')} list="known-configs" />
    </ActionForm>
  );
}

function PutAppForm() {
  const request = useRequestAction();
  const [manifest, setManifest] = useState('');
  const [note, setNote] = useState<{ text: string; error: boolean }>();

  const load = (file: File | undefined): void => {
    if (file === undefined) return;
    if (file.size > MAX_MANIFEST_BYTES) {
      setNote({ text: `${file.name} is ${file.size} bytes: too big for a manifest.`, error: true });
      return;
    }
    const reader = new FileReader();
    reader.onload = () => {
      setManifest(typeof reader.result === 'string' ? reader.result : '');
      setNote({ text: `Loaded ${file.name}; check it below before putting it.`, error: false });
    };
    reader.onerror = () => setNote({ text: `Could not read ${file.name}.`, error: true });
    reader.readAsText(file);
  };

  return (
    <ActionForm
      title="Put an application"
      submitLabel="Put application"
      description="Paste a manifest (YAML or JSON) or load it from a file. Putting stores a new version; deploy it after."
      onSubmit={() => {
        if (manifest.trim() === '') {
          setNote({ text: 'The manifest is empty.', error: true });
          return;
        }
        request({ kind: 'put-app', manifest });
      }}
    >
      <label class="field">
        <span class="field-label">Manifest file</span>
        <input
          type="file"
          accept=".yaml,.yml,.json,application/yaml,application/json,text/yaml,text/plain"
          onChange={(event) => load(event.currentTarget.files?.[0])}
        />
      </label>
      <label class="field field-wide">
        <span class="field-label">
          Manifest<span aria-hidden="true"> *</span>
        </span>
        <textarea
          rows={12}
          class="code"
          spellcheck={false}
          required
          value={manifest}
          placeholder={'apiVersion: core.oam.dev/v1beta1\nkind: Application\nmetadata:\n  name: hello'}
          onInput={(event) => setManifest(event.currentTarget.value)}
        />
      </label>
      {note !== undefined && (
        <p class={note.error ? 'field-error' : 'field-hint'} role={note.error ? 'alert' : 'status'}>
          {note.text}
        </p>
      )}
    </ActionForm>
  );
}

function DeployAppForm() {
  const request = useRequestAction();
  const { values, bind } = useForm({ name: '', version: '' });
  const version = values.version.trim();
  return (
    <ActionForm
      title="Deploy an application"
      submitLabel="Deploy"
      onSubmit={() =>
        request(
          version === ''
            ? { kind: 'deploy-app', name: values.name.trim() }
            : { kind: 'deploy-app', name: values.name.trim(), version },
        )
      }
    >
      <Field label="Application name" required bound={bind('name')} list="known-apps" />
      <Field label="Version" bound={bind('version')} hint="Empty: the latest version." />
    </ActionForm>
  );
}

function UndeployAppForm() {
  const request = useRequestAction();
  const { values, bind } = useForm({ name: '' });
  return (
    <ActionForm
      title="Undeploy an application"
      submitLabel="Undeploy"
      onSubmit={() => request({ kind: 'undeploy-app', name: values.name.trim() })}
    >
      <Field label="Application name" required bound={bind('name')} list="known-apps" />
    </ActionForm>
  );
}

export function ManagerForms(props: { snapshot: LatticeSnapshot }) {
  const { apps } = props.snapshot;
  return (
    <>
      <Suggestions id="known-apps" values={isUnavailable(apps) ? [] : apps.map((app) => app.name)} />
      <PutConfigForm />
      <DeleteConfigForm />
      <PutAppForm />
      <DeployAppForm />
      <UndeployAppForm />
    </>
  );
}
