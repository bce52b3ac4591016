/**
 * Points a guest's failure at its source. A JavaScript engine in a component (StarlingMonkey) writes
 * an uncaught exception to stderr as its message, `Stack:`, then frames `function@file:line:column`
 * in the bundle it runs; `cirrus build` embeds that bundle's source map in the component, and this
 * maps the first frame in the bundle back to the TypeScript file, line and column.
 */
import { SourceMap } from 'node:module';
import type { SourceMapPayload } from 'node:module';

export interface SourceLocation {
  /** Relative to the project the component was built from, e.g. `src/component.ts`. */
  file: string;
  line: number;
  column: number;
  /** The function the frame names, when it names one. */
  function: string | undefined;
  /** The exception's message, as the engine wrote it before the stack. */
  message: string | undefined;
}

/** Finds the source of a failure in the stderr lines of the call that failed. */
export type SourceLocator = (stderr: readonly string[]) => SourceLocation | undefined;

const FRAME = /^\s*([^@\s]*)@(.+):([0-9]+):([0-9]+)\s*$/;

/** A locator for a component's embedded source map; undefined without one, or with one unusable. */
export function sourceLocator(section: Uint8Array | undefined): SourceLocator | undefined {
  if (section === undefined) return undefined;
  let payload: SourceMapPayload;
  try {
    payload = JSON.parse(new TextDecoder().decode(section)) as SourceMapPayload;
    if (payload.version !== 3 || typeof payload.file !== 'string') return undefined;
  } catch {
    return undefined;
  }
  const bundle = payload.file;
  let map: SourceMap | undefined;
  return (stderr) => {
    for (const [index, line] of stderr.entries()) {
      const frame = FRAME.exec(line);
      if (frame === null) continue;
      const file = frame[2] as string;
      if (file !== bundle && !file.endsWith(`/${bundle}`)) continue;
      map ??= new SourceMap(payload);
      const origin = map.findOrigin(Number(frame[3]), Number(frame[4]));
      if (!('fileName' in origin)) continue;
      const stackAt = stderr.lastIndexOf('Stack:', index);
      return {
        file: origin.fileName,
        line: origin.lineNumber,
        column: origin.columnNumber,
        function: frame[1] === '' ? undefined : frame[1],
        message: stackAt > 0 ? stderr[stackAt - 1] : undefined,
      };
    }
    return undefined;
  };
}
