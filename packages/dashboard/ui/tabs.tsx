/** WAI-ARIA tabs: one tab stop for the list, arrow keys, Home and End to move between tabs. */
import type { ComponentChildren } from 'preact';
import { useRef } from 'preact/hooks';

export interface TabSpec<K extends string> {
  key: K;
  label: string;
  /** Shown after the label, e.g. a count or a warning mark. */
  extra?: string;
}

export function Tabs<K extends string>(props: {
  tabs: TabSpec<K>[];
  active: K;
  onSelect: (key: K) => void;
  children: ComponentChildren;
}) {
  const { tabs, active, onSelect } = props;
  const list = useRef<HTMLDivElement>(null);

  const move = (event: KeyboardEvent, index: number): void => {
    const last = tabs.length - 1;
    const target =
      event.key === 'ArrowRight'
        ? index === last
          ? 0
          : index + 1
        : event.key === 'ArrowLeft'
          ? index === 0
            ? last
            : index - 1
          : event.key === 'Home'
            ? 0
            : event.key === 'End'
              ? last
              : undefined;
    if (target === undefined) return;
    event.preventDefault();
    const tab = tabs[target];
    if (tab === undefined) return;
    onSelect(tab.key);
    list.current?.querySelectorAll<HTMLButtonElement>('[role="tab"]')[target]?.focus();
  };

  return (
    <>
      <div class="tabs" role="tablist" aria-label="Dashboard sections" ref={list}>
        {tabs.map((tab, index) => (
          <button
            key={tab.key}
            type="button"
            role="tab"
            id={`tab-${tab.key}`}
            aria-selected={tab.key === active}
            aria-controls={`panel-${tab.key}`}
            tabIndex={tab.key === active ? 0 : -1}
            class={tab.key === active ? 'tab tab-active' : 'tab'}
            onClick={() => onSelect(tab.key)}
            onKeyDown={(event) => move(event, index)}
          >
            {tab.label}
            {tab.extra !== undefined && <span class="tab-extra"> {tab.extra}</span>}
          </button>
        ))}
      </div>
      <div
        class="panel"
        role="tabpanel"
        id={`panel-${active}`}
        aria-labelledby={`tab-${active}`}
        tabIndex={0}
      >
        {props.children}
      </div>
    </>
  );
}
