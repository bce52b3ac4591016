import { decodeJson, decodeText, EMPTY } from './codec.ts';
import type { LatticeConnection, Msg, MsgHeaders } from './port.ts';

/** What a message of any adapter does the same way: reply on the connection it arrived on, decode. */
export abstract class ReplyableMsg implements Msg {
  abstract readonly subject: string;
  abstract readonly data: Uint8Array;
  abstract readonly reply: string | undefined;
  abstract readonly headers: MsgHeaders | undefined;
  readonly #conn: Pick<LatticeConnection, 'publish' | 'isClosed'>;

  constructor(conn: Pick<LatticeConnection, 'publish' | 'isClosed'>) {
    this.#conn = conn;
  }

  respond(data: Uint8Array = EMPTY, options: { headers?: MsgHeaders } = {}): boolean {
    if (this.reply === undefined || this.#conn.isClosed) return false;
    this.#conn.publish(this.reply, data, options);
    return true;
  }

  json<T = unknown>(): T {
    return decodeJson<T>(this.data);
  }

  string(): string {
    return decodeText(this.data);
  }
}
