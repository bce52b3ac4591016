import { Nkey, NkeyWrongTypeError } from '@cirrus/protocol';

export interface HostIdentity {
  /** The host's public nkey (`N…`): its id on the lattice. */
  id: string;
  friendlyName: string;
  /** The host's server key pair, for signing as the host; its seed never leaves it. */
  key: Nkey;
}

/**
 * The host's identity: its server key (from a seed file, so that it keeps its id across restarts), or
 * a fresh one. A key of another type is NKEY_WRONG_TYPE.
 */
export function generateHostIdentity(friendlyName?: string, hostKey?: Nkey): HostIdentity {
  if (hostKey !== undefined && hostKey.type !== 'server') {
    throw new NkeyWrongTypeError(`the host key is a ${hostKey.type} key, expected a server key (N…)`, {
      hint: 'create one with: cirrus keys gen server',
    });
  }
  const key = hostKey ?? Nkey.create('server');
  const id = key.publicKey;
  return { id, friendlyName: friendlyName ?? friendlyNameFor(id), key };
}

const ADJECTIVES = [
  'amber',
  'bold',
  'calm',
  'damp',
  'eager',
  'faint',
  'gentle',
  'hollow',
  'icy',
  'jolly',
  'keen',
  'lively',
  'misty',
  'noble',
  'quiet',
  'rapid',
  'silent',
  'tidy',
  'vivid',
  'wild',
];
const NOUNS = [
  'brook',
  'cloud',
  'dune',
  'ember',
  'fjord',
  'glade',
  'harbor',
  'island',
  'lagoon',
  'meadow',
  'nimbus',
  'orchard',
  'peak',
  'quarry',
  'river',
  'summit',
  'tundra',
  'valley',
  'willow',
  'zephyr',
];

/** A readable name derived from the key, stable for a given key: `silent-river-4821`. */
export function friendlyNameFor(id: string): string {
  let h = 2166136261;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 16777619) >>> 0;
  const adjective = ADJECTIVES[h % ADJECTIVES.length] as string;
  const noun = NOUNS[(h >>> 8) % NOUNS.length] as string;
  return `${adjective}-${noun}-${(h >>> 16) % 10000}`;
}
