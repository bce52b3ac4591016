import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import type { LatticeSnapshot, SessionInfo } from '../src/api-types.ts';
import { type ApiFailure, describeFailure, getSession, onUnauthorized } from './api.ts';
import { type ActionOutcome, ActionProvider } from './action-dialog.tsx';
import { clockTime, isUnavailable } from './format.ts';
import { type EventStream, type LatticeState, useEventStream, useLattice } from './live.ts';
import { type TabSpec, Tabs } from './tabs.tsx';
import { ActionsView } from './views/actions.tsx';
import { AppsView } from './views/apps.tsx';
import { ComponentsView } from './views/components.tsx';
import { ConfigView } from './views/config.tsx';
import { EventsView } from './views/events.tsx';
import { HostsView } from './views/hosts.tsx';
import { LinksView } from './views/links.tsx';
import { ProvidersView } from './views/providers.tsx';
import { ErrorBoundary, FailureNotice } from './widgets.tsx';

type TabKey = 'hosts' | 'components' | 'providers' | 'links' | 'config' | 'apps' | 'events' | 'actions';

const TAB_KEYS: TabKey[] = [
  'hosts',
  'components',
  'providers',
  'links',
  'config',
  'apps',
  'events',
  'actions',
];
const OUTCOME_CAP = 20;

function tabFromHash(): TabKey {
  const key = window.location.hash.slice(1);
  return TAB_KEYS.find((k) => k === key) ?? 'hosts';
}

function count(value: unknown[] | object): string {
  return Array.isArray(value) ? `(${value.length})` : '(unavailable)';
}

function tabSpecs(snapshot: LatticeSnapshot | undefined, events: number): TabSpec<TabKey>[] {
  const inventories = (snapshot?.hosts ?? []).flatMap((h) =>
    isUnavailable(h.inventory) ? [] : [h.inventory],
  );
  const components = new Set(inventories.flatMap((i) => i.components.map((c) => c.id)));
  const providers = inventories.reduce((sum, i) => sum + i.providers.length, 0);
  const stale = snapshot?.hosts.filter((h) => h.stale).length ?? 0;
  const known = snapshot !== undefined;
  return [
    {
      key: 'hosts',
      label: 'Hosts',
      extra: known ? `(${snapshot.hosts.length}${stale > 0 ? `, ${stale} stale` : ''})` : undefined,
    },
    { key: 'components', label: 'Components', extra: known ? `(${components.size})` : undefined },
    { key: 'providers', label: 'Providers', extra: known ? `(${providers})` : undefined },
    { key: 'links', label: 'Links', extra: known ? count(snapshot.links) : undefined },
    { key: 'config', label: 'Config', extra: known ? count(snapshot.configs) : undefined },
    { key: 'apps', label: 'Applications', extra: known ? count(snapshot.apps) : undefined },
    { key: 'events', label: 'Events', extra: `(${events})` },
    { key: 'actions', label: 'Actions' },
  ];
}

function StreamIndicator(props: { stream: EventStream }) {
  const { state, reconnect } = props.stream;
  const text = {
    connecting: 'connecting…',
    open: 'live',
    reconnecting: 'disconnected, reconnecting…',
    closed: 'disconnected',
  }[state];
  return (
    <span class={`stream stream-${state}`} role="status">
      <span class="dot" aria-hidden="true" /> Events: {text}
      {state === 'closed' && (
        <button type="button" class="small" onClick={reconnect}>
          Reconnect
        </button>
      )}
    </span>
  );
}

function AuthNotice(props: { failure: ApiFailure }) {
  return (
    <main class="auth-notice">
      <h2>No session</h2>
      <p role="alert">
        This page is not signed in to the dashboard. Open the URL <code>cirrus up</code> printed, with its
        token, to start a session.
      </p>
      <p class="muted">
        The server said: <code>{props.failure.code}</code> {props.failure.message}
      </p>
    </main>
  );
}

function Panel(props: {
  label: string;
  needsSnapshot: boolean;
  state: LatticeState;
  children: ComponentChildren;
}) {
  const { snapshot, error } = props.state;
  let body: ComponentChildren;
  if (!props.needsSnapshot || snapshot !== undefined) {
    body = <ErrorBoundary name={props.label}>{props.children}</ErrorBoundary>;
  } else {
    body = (
      <p class="muted">
        {error === undefined ? 'Loading the lattice…' : 'Nothing to show until the lattice can be read.'}
      </p>
    );
  }
  return (
    <>
      <h2 class="panel-title">{props.label}</h2>
      {body}
    </>
  );
}

export function App() {
  const [session, setSession] = useState<SessionInfo>();
  const [sessionFailure, setSessionFailure] = useState<ApiFailure>();
  const [unauthorized, setUnauthorized] = useState<ApiFailure>();
  const [tab, setTab] = useState<TabKey>(tabFromHash);
  const [outcomes, setOutcomes] = useState<ActionOutcome[]>([]);

  const loadSession = useCallback(() => {
    setSessionFailure(undefined);
    getSession().then(setSession, (error: unknown) => setSessionFailure(describeFailure(error)));
  }, []);

  useEffect(() => {
    onUnauthorized(setUnauthorized);
    loadSession();
    const onHash = () => setTab(tabFromHash());
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, [loadSession]);

  const live = session !== undefined && unauthorized === undefined;
  const lattice = useLattice(live);
  const stream = useEventStream(live, lattice.refresh);
  const { snapshot } = lattice;

  const select = (key: TabKey) => {
    setTab(key);
    // replaceState, not a hash assignment: switching tabs should not fill the back button's history.
    window.history.replaceState(null, '', `#${key}`);
  };

  const onOutcome = useCallback(
    (outcome: ActionOutcome) => {
      setOutcomes((previous) => [outcome, ...previous].slice(0, OUTCOME_CAP));
      // Application changes raise no lattice event, so the snapshot is refreshed here too.
      lattice.refresh();
    },
    [lattice.refresh],
  );

  const views: Record<TabKey, () => ComponentChildren> = {
    hosts: () => snapshot && <HostsView snapshot={snapshot} />,
    components: () => snapshot && <ComponentsView snapshot={snapshot} metrics={stream.metrics} />,
    providers: () => snapshot && <ProvidersView snapshot={snapshot} />,
    links: () => snapshot && <LinksView snapshot={snapshot} />,
    config: () => snapshot && <ConfigView snapshot={snapshot} />,
    apps: () => snapshot && <AppsView snapshot={snapshot} />,
    events: () => <EventsView stream={stream} />,
    actions: () => snapshot && <ActionsView snapshot={snapshot} outcomes={outcomes} />,
  };

  // Unknown without a session: the header then names no lattice rather than a placeholder.
  const latticeName = snapshot?.lattice ?? session?.lattice;
  const specs = tabSpecs(snapshot, stream.events.length);
  const activeLabel = specs.find((spec) => spec.key === tab)?.label ?? tab;

  return (
    <ActionProvider onOutcome={onOutcome}>
      <header class="top">
        <h1>Cirrus dashboard</h1>
        {latticeName !== undefined && (
          <span class="lattice">
            Lattice <code>{latticeName}</code>
          </span>
        )}
        {live && <StreamIndicator stream={stream} />}
        {snapshot !== undefined && (
          // Not a live region: it changes on every event, which would flood a screen reader.
          <span class="muted">
            Snapshot {clockTime(snapshot.takenAtMs)}
            {lattice.loading ? ', refreshing…' : ''}
          </span>
        )}
        {live && (
          // Never disabled: it would drop the keyboard focus whenever an event starts a refresh.
          <button type="button" class="small" onClick={lattice.refresh}>
            Refresh
          </button>
        )}
      </header>
      {unauthorized !== undefined ? (
        <AuthNotice failure={unauthorized} />
      ) : (
        <main>
          {sessionFailure !== undefined && (
            <div>
              <FailureNotice failure={sessionFailure} title="Could not start the session" />
              <button type="button" onClick={loadSession}>
                Try again
              </button>
            </div>
          )}
          {lattice.error !== undefined && (
            <FailureNotice
              failure={lattice.error}
              title={
                snapshot === undefined
                  ? 'Could not read the lattice'
                  : `Could not refresh the lattice; showing the snapshot of ${clockTime(snapshot.takenAtMs)}`
              }
            />
          )}
          <Tabs tabs={specs} active={tab} onSelect={select}>
            {/* Keyed by tab, so a view that failed does not leave its error on the next tab. */}
            <Panel key={tab} label={activeLabel} needsSnapshot={tab !== 'events'} state={lattice}>
              {views[tab]()}
            </Panel>
          </Tabs>
        </main>
      )}
    </ActionProvider>
  );
}
