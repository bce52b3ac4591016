import { arch, platform } from 'node:os';
import { createServer } from '@nats-io/nkeys';
import type { StringMap } from '@cirrus/protocol';

export interface HostIdentity {
  /** The host's public nkey (`N…`): its id on the lattice. */
  id: string;
  friendlyName: string;
}

/** A fresh server nkey. The seed stays in memory; stable identities come with the security layer. */
export function generateHostIdentity(friendlyName?: string): HostIdentity {
  const key = createServer();
  const id = key.getPublicKey();
  return { id, friendlyName: friendlyName ?? friendlyNameFor(id) };
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

const ARCH: Record<string, string> = { x64: 'x86_64', arm64: 'aarch64', ia32: 'x86', arm: 'arm' };

/** The `hostcore.*` labels every 1.x host reports. */
export function hostcoreLabels(): StringMap {
  const os = platform();
  return {
    'hostcore.os': os === 'darwin' ? 'macos' : os === 'win32' ? 'windows' : os,
    'hostcore.arch': ARCH[arch()] ?? arch(),
    'hostcore.osfamily': os === 'win32' ? 'windows' : 'unix',
  };
}
