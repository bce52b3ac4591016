/**
 * `wrpc:blobstore/blobstore@0.2.0`, the form wasi:blobstore takes on the lattice in wasmCloud 1.x
 * (§4.5; wrpc-interface-blobstore 0.2, `wit/blobstore.wit` and `wit/types.wit`): containers and
 * objects by name, object data as `stream<u8>` both ways, listings as `stream<string>`, each stream
 * with a future that tells how it ended. The parser here takes no `use`, so the records of
 * `wrpc:blobstore/types` are declared in place; encodings depend only on the structure.
 */
import { parseWit } from '@cirrus/protocol';
import type { WitFunction } from '@cirrus/protocol';

export const WRPC_BLOBSTORE = 'wrpc:blobstore/blobstore@0.2.0';

const WIT = `
package wrpc:blobstore@0.2.0;

interface blobstore {
  record container-metadata { created-at: u64 }
  record object-metadata { created-at: u64, size: u64 }
  record object-id { container: string, object: string }

  clear-container: func(name: string) -> result<_, string>;
  container-exists: func(name: string) -> result<bool, string>;
  create-container: func(name: string) -> result<_, string>;
  delete-container: func(name: string) -> result<_, string>;
  get-container-info: func(name: string) -> result<container-metadata, string>;
  list-container-objects: func(name: string, limit: option<u64>, offset: option<u64>) -> result<tuple<stream<string>, future<result<_, string>>>, string>;
  copy-object: func(src: object-id, dest: object-id) -> result<_, string>;
  delete-object: func(id: object-id) -> result<_, string>;
  delete-objects: func(container: string, objects: list<string>) -> result<_, string>;
  get-container-data: func(id: object-id, start: u64, end: u64) -> result<tuple<stream<u8>, future<result<_, string>>>, string>;
  get-object-info: func(id: object-id) -> result<object-metadata, string>;
  has-object: func(id: object-id) -> result<bool, string>;
  move-object: func(src: object-id, dest: object-id) -> result<_, string>;
  write-container-data: func(id: object-id, data: stream<u8>) -> result<future<result<_, string>>, string>;
}
`;

const iface = parseWit(WIT).interfaces[0];
if (iface === undefined) throw new Error('wrpc:blobstore/blobstore is missing from the built-in WIT');

export const BLOBSTORE_FUNCTIONS: ReadonlyMap<string, WitFunction> = iface.functions;

/** A `result<T, string>` as jco and the wRPC codec represent it. */
export type WireResult<T> = { tag: 'ok'; val: T } | { tag: 'err'; val: string };

/** How a streamed value ended, sent after it. */
export type WireStatus = Promise<WireResult<undefined>>;

export interface WireObjectId {
  container: string;
  object: string;
}
