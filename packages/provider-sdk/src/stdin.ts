/**
 * The provider's stdin: the HostData line the host writes first, and then the pipe itself, which the
 * host keeps open for as long as it lives. Its end means the host is gone.
 */
import { decodeHostData, HostDataInvalidError } from '@cirrus/protocol';
import type { HostData } from '@cirrus/protocol';

export interface HostDataSource extends AsyncIterable<Buffer | string> {
  readonly isTTY?: boolean;
  /** Node streams: an iterator that leaves the stream open when the loop stops early. */
  iterator?(options: { destroyOnReturn: boolean }): AsyncIterable<Buffer | string>;
}

/** Reads up to the first newline (or the end of input) and decodes it; the rest stays unread. */
export async function readHostData(input: HostDataSource): Promise<HostData> {
  // Started by hand from a terminal, the provider would otherwise wait for input forever.
  if (input.isTTY === true) {
    throw new HostDataInvalidError('stdin is a terminal, not HostData from a host', {
      hint: 'start the provider through a host: cirrus start provider HOST file:///path/to/main.ts ID',
    });
  }
  let text = '';
  for await (const chunk of input.iterator?.({ destroyOnReturn: false }) ?? input) {
    text += typeof chunk === 'string' ? chunk : chunk.toString('latin1');
    if (text.includes('\n')) break;
  }
  const newline = text.indexOf('\n');
  return decodeHostData(newline === -1 ? text : text.slice(0, newline));
}

/** Calls `onGone` once `input` ends or fails: the host that wrote HostData to it has gone. */
export function whenHostGone(input: NodeJS.ReadableStream, onGone: () => void): void {
  let gone = false;
  const once = (): void => {
    if (gone) return;
    gone = true;
    onGone();
  };
  input.on('end', once);
  input.on('close', once);
  input.on('error', once);
  // Whatever else arrives is not for the provider; reading it is what notices the end.
  input.on('data', () => undefined);
  input.resume();
}
