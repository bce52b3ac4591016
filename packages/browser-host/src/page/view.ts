/** What the page shows: the host, its components, its log, and the stop button. */
import type { Host } from '@cirrus/host';

/** Log lines kept on the page; older ones scroll away. */
const LOG_LINES = 500;
const INVENTORY_REFRESH_MS = 1_000;

export interface View {
  status(state: string): void;
  running(host: Host, lattice: string): void;
  failed(message: string): void;
  log(line: string): void;
  onStop(stop: () => Promise<void>): void;
  askToJoin(join: (form: FormData) => Promise<void>): void;
}

function element<T extends HTMLElement>(doc: Document, id: string): T {
  const found = doc.getElementById(id);
  if (found === null) throw new Error(`the page has no #${id}`);
  return found as T;
}

export function createView(doc: Document): View {
  const status = element(doc, 'status');
  const stop = element<HTMLButtonElement>(doc, 'stop');
  const identity = element(doc, 'identity');
  const components = element(doc, 'components');
  const log = element(doc, 'log');
  const join = element(doc, 'join');
  const joinForm = element<HTMLFormElement>(doc, 'join-form');

  const setStatus = (state: string): void => {
    status.textContent = state;
    status.dataset['state'] = state;
  };
  const row = (cells: string[]): HTMLTableRowElement => {
    const tr = doc.createElement('tr');
    for (const text of cells) {
      const td = doc.createElement('td');
      td.textContent = text;
      tr.append(td);
    }
    return tr;
  };
  const showInventory = (host: Host): void => {
    const { components: running } = host.inventory();
    components.replaceChildren(
      ...running.map((c) => {
        const tr = row([c.id, c.image_ref, String(c.max_instances)]);
        tr.dataset['component'] = c.id;
        return tr;
      }),
    );
  };

  return {
    status: setStatus,
    running(host, lattice) {
      setStatus('running');
      doc.body.dataset['hostId'] = host.id;
      const facts: [string, string][] = [
        ['Id', host.id],
        ['Name', host.friendlyName],
        ['Lattice', lattice],
        ...Object.entries(host.labels()).map(([k, v]): [string, string] => [k, v]),
      ];
      identity.replaceChildren(
        ...facts.flatMap(([term, value]) => {
          const dt = doc.createElement('dt');
          dt.textContent = term;
          const dd = doc.createElement('dd');
          dd.textContent = value;
          return [dt, dd];
        }),
      );
      showInventory(host);
      const timer = setInterval(() => showInventory(host), INVENTORY_REFRESH_MS);
      void host.stopped.then(() => {
        clearInterval(timer);
        showInventory(host);
      });
    },
    failed(message) {
      setStatus('failed');
      this.log(JSON.stringify({ level: 'error', msg: message }));
    },
    log(line) {
      const item = doc.createElement('li');
      try {
        const { time, level, msg, ...fields } = JSON.parse(line) as Record<string, unknown>;
        item.dataset['level'] = String(level);
        const extra = Object.entries(fields)
          .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
          .join(' ');
        item.textContent = `${typeof time === 'string' ? time.slice(11, 23) : ''} ${String(level).toUpperCase()} ${String(msg)} ${extra}`;
      } catch {
        item.textContent = line;
      }
      log.append(item);
      while (log.childElementCount > LOG_LINES) log.firstElementChild?.remove();
      item.scrollIntoView({ block: 'nearest' });
    },
    onStop(run) {
      stop.disabled = false;
      stop.addEventListener(
        'click',
        () => {
          stop.disabled = true;
          run().catch((err: unknown) => this.failed(String(err)));
        },
        { once: true },
      );
    },
    askToJoin(run) {
      setStatus('not joined');
      join.hidden = false;
      joinForm.addEventListener('submit', (event) => {
        event.preventDefault();
        join.hidden = true;
        void run(new FormData(joinForm));
      });
    },
  };
}
