/**
 * Every change to the lattice goes through one modal: it says what will happen, sends the action only
 * after an explicit confirm, and shows the server's answer (or its error code, message and hint).
 */
import { createContext } from 'preact';
import type { ComponentChildren } from 'preact';
import { useCallback, useContext, useEffect, useRef, useState } from 'preact/hooks';
import type { Action, ActionResult } from '../src/api-types.ts';
import { type ApiFailure, describeFailure, postAction } from './api.ts';
import { linkInterface } from './format.ts';
import { FailureNotice } from './widgets.tsx';

export interface ActionOutcome {
  seq: number;
  atMs: number;
  summary: string;
  result?: ActionResult;
  failure?: ApiFailure;
}

type RequestAction = (action: Action) => void;

const ActionContext = createContext<RequestAction>(() => undefined);

export function useRequestAction(): RequestAction {
  return useContext(ActionContext);
}

export function describeAction(action: Action): string {
  switch (action.kind) {
    case 'scale-component':
      return action.count === 0
        ? `Stop component ${action.componentId} on host ${action.hostId}.`
        : `Scale component ${action.componentId} (${action.componentRef}) on host ${action.hostId} to ${action.count} instance(s).`;
    case 'start-provider':
      return `Start provider ${action.providerId} (${action.providerRef}) on host ${action.hostId}.`;
    case 'stop-provider':
      return `Stop provider ${action.providerId} on host ${action.hostId}.`;
    case 'put-link':
      return `Put link ${action.link.source_id} → ${action.link.target} (${linkInterface(action.link)}, name ${action.link.name}).`;
    case 'delete-link':
      return `Delete link from ${action.sourceId} on ${action.namespace}:${action.package} (name ${action.name}).`;
    case 'put-config':
      return `Put config ${action.name} with ${Object.keys(action.values).length} key(s).`;
    case 'delete-config':
      return `Delete config ${action.name}.`;
    case 'put-app':
      return `Put an application manifest (${action.manifest.length} characters).`;
    case 'deploy-app':
      return `Deploy application ${action.name}${action.version === undefined ? ' (latest version)' : ` version ${action.version}`}.`;
    case 'undeploy-app':
      return `Undeploy application ${action.name}.`;
  }
}

type Phase = 'confirm' | 'sending' | 'done';

export function ActionProvider(props: {
  onOutcome: (outcome: ActionOutcome) => void;
  children: ComponentChildren;
}) {
  const [action, setAction] = useState<Action>();
  const [phase, setPhase] = useState<Phase>('confirm');
  const [outcome, setOutcome] = useState<ActionOutcome>();
  const dialog = useRef<HTMLDialogElement>(null);
  const cancelButton = useRef<HTMLButtonElement>(null);
  const closeButton = useRef<HTMLButtonElement>(null);
  const seq = useRef(0);
  // Focus goes back where it was, so a keyboard user is not dropped at the top of the page.
  const returnFocus = useRef<HTMLElement | null>(null);

  const request = useCallback<RequestAction>((next) => {
    returnFocus.current = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    setAction(next);
    setPhase('confirm');
    setOutcome(undefined);
  }, []);

  useEffect(() => {
    const element = dialog.current;
    if (element === null || action === undefined) return;
    if (!element.open) element.showModal();
    // The safe choice has the focus: Enter on an opened dialog must not change the lattice.
    cancelButton.current?.focus();
  }, [action]);

  useEffect(() => {
    if (phase === 'done') closeButton.current?.focus();
  }, [phase]);

  const close = useCallback(() => {
    if (phase === 'sending') return;
    dialog.current?.close();
  }, [phase]);

  const onClosed = useCallback(() => {
    setAction(undefined);
    returnFocus.current?.focus();
  }, []);

  const confirm = async (): Promise<void> => {
    if (action === undefined) return;
    setPhase('sending');
    seq.current += 1;
    const base = { seq: seq.current, atMs: Date.now(), summary: describeAction(action) };
    let next: ActionOutcome;
    try {
      next = { ...base, result: await postAction(action) };
    } catch (error) {
      next = { ...base, failure: describeFailure(error) };
    }
    setOutcome(next);
    setPhase('done');
    props.onOutcome(next);
  };

  return (
    <ActionContext.Provider value={request}>
      {props.children}
      <dialog
        ref={dialog}
        class="action-dialog"
        aria-labelledby="action-dialog-title"
        onClose={onClosed}
        onCancel={(event) => {
          if (phase === 'sending') event.preventDefault();
        }}
      >
        {action !== undefined && (
          <div>
            <h2 id="action-dialog-title">{phase === 'done' ? 'Result' : 'Confirm action'}</h2>
            <p class="action-summary">{describeAction(action)}</p>
            <details>
              <summary>Request body</summary>
              <pre class="json">{JSON.stringify(action, null, 2)}</pre>
            </details>
            {phase === 'sending' && (
              <p role="status" class="muted">
                Sending…
              </p>
            )}
            {outcome?.result !== undefined && (
              <div class="notice notice-ok" role="status">
                <p>
                  <strong>Done.</strong>
                </p>
                <pre class="message">{outcome.result.message}</pre>
              </div>
            )}
            {outcome?.failure !== undefined && (
              <FailureNotice failure={outcome.failure} title="The action failed" />
            )}
            <div class="dialog-buttons">
              {phase === 'done' ? (
                <button type="button" ref={closeButton} onClick={close}>
                  Close
                </button>
              ) : (
                <>
                  <button type="button" ref={cancelButton} onClick={close} disabled={phase === 'sending'}>
                    Cancel
                  </button>
                  <button
                    type="button"
                    class="primary"
                    onClick={() => void confirm()}
                    disabled={phase === 'sending'}
                  >
                    Confirm
                  </button>
                </>
              )}
            </div>
          </div>
        )}
      </dialog>
    </ActionContext.Provider>
  );
}
