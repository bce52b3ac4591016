import type { LatticeSnapshot } from '../../src/api-types.ts';
import type { ActionOutcome } from '../action-dialog.tsx';
import { clockTime } from '../format.ts';
import { LatticeForms } from './lattice-forms.tsx';
import { ManagerForms } from './manager-forms.tsx';

function Outcomes(props: { outcomes: ActionOutcome[] }) {
  if (props.outcomes.length === 0) return null;
  return (
    <section class="card" aria-labelledby="outcomes-title">
      <h3 id="outcomes-title">Recent results</h3>
      <ol class="outcomes">
        {props.outcomes.map((outcome) => (
          <li key={outcome.seq} class={outcome.failure === undefined ? 'outcome-ok' : 'outcome-error'}>
            <time>{clockTime(outcome.atMs)}</time> {outcome.summary}{' '}
            {outcome.result !== undefined && (
              <>
                <span class="badge badge-ok">ok</span>
                <pre class="message">{outcome.result.message}</pre>
              </>
            )}
            {outcome.failure !== undefined && (
              <>
                <span class="badge badge-error">{outcome.failure.code}</span>
                <pre class="message">{outcome.failure.message}</pre>
                {outcome.failure.hint !== undefined && <p class="hint">Hint: {outcome.failure.hint}</p>}
              </>
            )}
          </li>
        ))}
      </ol>
    </section>
  );
}

export function ActionsView(props: { snapshot: LatticeSnapshot; outcomes: ActionOutcome[] }) {
  return (
    <div>
      <p class="muted">Every action asks for confirmation before anything is sent.</p>
      <Outcomes outcomes={props.outcomes} />
      <h3 class="group-title">Components, providers and links</h3>
      <div class="form-grid">
        <LatticeForms snapshot={props.snapshot} />
      </div>
      <h3 class="group-title">Configs and applications</h3>
      <div class="form-grid">
        <ManagerForms snapshot={props.snapshot} />
      </div>
    </div>
  );
}
