/** Reading the HostData line a host writes to the provider's stdin before closing it. */
import { decodeHostData, HostDataInvalidError } from '@cirrus/protocol';
import type { HostData } from '@cirrus/protocol';

export interface HostDataSource extends AsyncIterable<Buffer | string> {
  readonly isTTY?: boolean;
}

/** Reads up to the first newline (or the end of input) and decodes it. */
export async function readHostData(input: HostDataSource): Promise<HostData> {
  // Started by hand from a terminal, the provider would otherwise wait for input forever.
  if (input.isTTY === true) {
    throw new HostDataInvalidError('stdin is a terminal, not HostData from a host', {
      hint: 'start the provider through a host: cirrus start provider HOST file:///path/to/main.ts ID',
    });
  }
  let text = '';
  for await (const chunk of input) {
    text += typeof chunk === 'string' ? chunk : chunk.toString('latin1');
    if (text.includes('\n')) break;
  }
  const newline = text.indexOf('\n');
  return decodeHostData(newline === -1 ? text : text.slice(0, newline));
}
