/** Small pieces shared by the views. Everything from the lattice goes in as text children or attributes. */
import { Component } from 'preact';
import type { ComponentChildren } from 'preact';
import type { StringMap } from '@cirrus/protocol';
import type { Unavailable } from '../src/api-types.ts';
import type { ApiFailure } from './api.ts';
import { entries, shortId } from './format.ts';

export function UnavailableNotice(props: { what: string; value: Unavailable }) {
  const { code, message } = props.value.unavailable;
  return (
    <p class="notice notice-warn" role="status">
      <strong>{props.what} unavailable</strong> <code>{code}</code>: {message}
    </p>
  );
}

export function FailureNotice(props: { failure: ApiFailure; title?: string }) {
  const { failure } = props;
  return (
    <div class="notice notice-error" role="alert">
      <p>
        <strong>{props.title ?? 'Failed'}</strong> <code>{failure.code}</code>
      </p>
      <pre class="message">{failure.message}</pre>
      {failure.hint !== undefined && failure.hint !== '' && <p class="hint">Hint: {failure.hint}</p>}
    </div>
  );
}

export function Id(props: { id: string }) {
  return (
    <code class="id" title={props.id}>
      {shortId(props.id)}
    </code>
  );
}

export function Labels(props: { labels: StringMap | null | undefined }) {
  const list = entries(props.labels);
  if (list.length === 0) return <span class="muted">none</span>;
  return (
    <ul class="chips">
      {list.map(([key, value]) => (
        <li key={key} class="chip">
          <span class="chip-key">{key}</span>=<span class="chip-value">{value}</span>
        </li>
      ))}
    </ul>
  );
}

export function Empty(props: { children: ComponentChildren }) {
  return <p class="muted empty">{props.children}</p>;
}

interface BoundaryState {
  error: string | undefined;
}

/** A view that throws on an odd snapshot must not take the tabs and the other views down with it. */
export class ErrorBoundary extends Component<{ name: string; children: ComponentChildren }, BoundaryState> {
  override state: BoundaryState = { error: undefined };

  static override getDerivedStateFromError(error: unknown): BoundaryState {
    return { error: error instanceof Error ? error.message : String(error) };
  }

  override render() {
    if (this.state.error === undefined) return this.props.children;
    return (
      <div class="notice notice-error" role="alert">
        <p>
          <strong>The {this.props.name} view could not be shown.</strong>
        </p>
        <pre class="message">{this.state.error}</pre>
        <button type="button" onClick={() => this.setState({ error: undefined })}>
          Try again
        </button>
      </div>
    );
  }
}
