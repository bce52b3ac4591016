/** Form plumbing for the action forms: controlled fields with visible labels and id suggestions. */
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import type { HostView } from '../src/api-types.ts';
import { shortId } from './format.ts';

type Values = Record<string, string>;

interface Bound {
  value: string;
  onInput: (event: { currentTarget: { value: string } }) => void;
}

export function useForm<T extends Values>(
  initial: T,
): { values: T; bind: (key: keyof T) => Bound; reset: () => void } {
  const [values, setValues] = useState<T>(initial);
  return {
    values,
    bind: (key) => ({
      value: values[key] ?? '',
      onInput: (event) => {
        const value = event.currentTarget.value;
        setValues((previous) => ({ ...previous, [key]: value }));
      },
    }),
    reset: () => setValues(initial),
  };
}

export function Field(props: {
  label: string;
  bound: Bound;
  required?: boolean;
  list?: string;
  placeholder?: string;
  hint?: string;
  type?: 'text' | 'number';
}) {
  return (
    <label class="field">
      <span class="field-label">
        {props.label}
        {props.required === true && <span aria-hidden="true"> *</span>}
      </span>
      <input
        type={props.type ?? 'text'}
        required={props.required}
        list={props.list}
        placeholder={props.placeholder}
        min={props.type === 'number' ? '0' : undefined}
        step={props.type === 'number' ? '1' : undefined}
        spellcheck={false}
        autocomplete="off"
        {...props.bound}
      />
      {props.hint !== undefined && <span class="field-hint">{props.hint}</span>}
    </label>
  );
}

/** The host picker: hosts by friendly name, the first one chosen until the user picks another. */
export function HostSelect(props: { hosts: HostView[]; bound: Bound }) {
  const { hosts, bound } = props;
  return (
    <label class="field">
      <span class="field-label">
        Host<span aria-hidden="true"> *</span>
      </span>
      <select required value={chosenHost(hosts, bound.value)} onInput={bound.onInput}>
        {hosts.length === 0 && <option value="">no hosts</option>}
        {hosts.map((host) => (
          <option key={host.info.id} value={host.info.id}>
            {host.info.friendly_name} ({shortId(host.info.id)}){host.stale ? ' — stale' : ''}
          </option>
        ))}
      </select>
    </label>
  );
}

/** The chosen host, or the first one while the field is untouched or names a host that left. */
export function chosenHost(hosts: HostView[], value: string): string {
  return hosts.some((host) => host.info.id === value) ? value : (hosts[0]?.info.id ?? '');
}

export function Suggestions(props: { id: string; values: Iterable<string> }) {
  return (
    <datalist id={props.id}>
      {[...new Set(props.values)].map((value) => (
        <option key={value} value={value} />
      ))}
    </datalist>
  );
}

export function ActionForm(props: {
  title: string;
  onSubmit: () => void;
  submitLabel: string;
  children: ComponentChildren;
  description?: string;
}) {
  return (
    <form
      class="card action-form"
      onSubmit={(event) => {
        event.preventDefault();
        props.onSubmit();
      }}
    >
      <h4>{props.title}</h4>
      {props.description !== undefined && <p class="muted">{props.description}</p>}
      <div class="fields">{props.children}</div>
      <div class="button-row">
        <button type="submit" class="primary">
          {props.submitLabel}…
        </button>
      </div>
    </form>
  );
}
