/**
 * Starts that must not outlive the host. A host asked to stop while a component or provider is still
 * starting (Ctrl+C during `cirrus up`) must not end up with that workload running after `host
 * stopped`: its workers or listeners would keep the process alive forever. Every start runs through
 * the guard; closing it aborts the starts in flight (through their signal), waits for them to
 * settle, and makes any that finish anyway undo what they started.
 */
import { HostStoppedError } from '@cirrus/protocol';

export class StartGuard {
  readonly #controller = new AbortController();
  readonly #pending = new Set<Promise<unknown>>();

  /** Aborted once the guard closes; starts pass it to whatever can be interrupted. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  get closed(): boolean {
    return this.#controller.signal.aborted;
  }

  /** HOST_STOPPED when the guard is closed. */
  assertOpen(): void {
    if (this.closed) throw stoppedError();
  }

  /**
   * Runs `start`. When the guard closes before it finishes, whatever it produced is handed to `undo`
   * and the start fails with HOST_STOPPED, so nothing it started is left running.
   */
  async run<T>(start: (signal: AbortSignal) => Promise<T>, undo: (value: T) => Promise<void>): Promise<T> {
    this.assertOpen();
    const work = (async () => {
      let value: T;
      try {
        value = await start(this.signal);
      } catch (err) {
        throw this.closed ? stoppedError(err) : err;
      }
      if (this.closed) {
        await undo(value);
        throw stoppedError();
      }
      return value;
    })();
    const settled = work.then(
      () => undefined,
      () => undefined,
    );
    this.#pending.add(settled);
    void settled.then(() => this.#pending.delete(settled));
    return work;
  }

  /** Refuses new starts, aborts those in flight, and resolves once every one has settled. */
  async close(): Promise<void> {
    this.#controller.abort(stoppedError());
    while (this.#pending.size > 0) await Promise.all([...this.#pending]);
  }
}

function stoppedError(cause?: unknown): HostStoppedError {
  return new HostStoppedError('the host is stopping', {
    hint: 'start a new host',
    ...(cause === undefined ? {} : { cause }),
  });
}
