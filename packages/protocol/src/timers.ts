/**
 * Lets a timer run without keeping the process alive (Node's `unref`). Browsers' timers are plain
 * numbers that never keep anything alive, so there it does nothing.
 */
export function unrefTimer<T>(timer: T): T {
  (timer as { unref?: () => unknown } | undefined)?.unref?.();
  return timer;
}

/**
 * Runs `fn` once the events already waiting have been handled: Node's `setImmediate`, or a zero
 * timer where there is none (browsers).
 */
export const afterPendingEvents: (fn: () => void) => void =
  typeof setImmediate === 'function' ? (fn) => void setImmediate(fn) : (fn) => void setTimeout(fn, 0);
