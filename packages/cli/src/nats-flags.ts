/**
 * The NATS connection flags: a URL, one kind of credentials, and TLS, for the connection every command
 * makes (`--nats…`) and, for `cirrus up`, separately for control and RPC traffic (`--ctl-…`, `--rpc-…`,
 * each falling back to `--nats…`, as 1.x's `--ctl-*`/`--rpc-*` fall back to `--nats-*`).
 *
 * Secrets come from files or the environment, never from the command line: arguments are visible to
 * every user of the machine (`ps`, /proc/<pid>/cmdline), while a file can be private to its owner and
 * the environment of a process only to its user. A secret file that others may read works, with a
 * warning.
 */
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { connectNats, readNatsCredsFile } from '@cirrus/lattice-nats';
import type { NatsCredentials, NatsLatticeConnection, NatsTlsOptions } from '@cirrus/lattice-nats';
import type { ProviderRpc } from '@cirrus/host';
import { InvalidArgumentError, LatticeCredentialsInvalidError, UsageError } from '@cirrus/protocol';
import type { Limits } from '@cirrus/protocol';
import { readRegularTextFile } from '@cirrus/runtime';
import type { FlagSpec, FlagSpecs } from './args.ts';

/** Which connection a flag configures: every connection, or (`cirrus up`) control or RPC traffic. */
export type NatsScope = 'nats' | 'ctl' | 'rpc';

/** How a scope spells its flags: `--nats-creds`, `--ctl-creds`, `--rpc-creds`; the URL is `--ctl-nats`. */
function flag(scope: NatsScope, name: string): string {
  if (name === 'url') return scope === 'nats' ? 'nats' : `${scope}-nats`;
  return `${scope}-${name}`;
}

/** The flags of one connection, each with its value name and what it does. */
const FLAGS = {
  url: { value: 'URL', description: 'NATS server(s), comma-separated; tls://host:port requires TLS' },
  creds: { value: 'FILE', description: 'a .creds file (user JWT and seed) for decentralised auth' },
  nkey: { value: 'FILE', description: 'a file holding an nkey user seed (SU…)' },
  'token-file': { value: 'FILE', description: "a file holding the server's token" },
  user: { value: 'NAME', description: 'user name' },
  'password-file': { value: 'FILE', description: 'a file holding the password of the user' },
  tls: { description: 'require TLS (implied by the other TLS flags and by tls://)' },
  'tls-ca': { value: 'FILE', description: "CA certificate(s) (PEM) that signed the server's certificate" },
  'tls-cert': { value: 'FILE', description: 'client certificate (PEM), for servers that verify clients' },
  'tls-key': { value: 'FILE', description: 'private key (PEM) of the client certificate' },
  'tls-server-name': { value: 'NAME', description: "name the server's certificate must carry" },
  'tls-first': { description: 'start TLS before the NATS greeting (servers with handshake_first)' },
} as const satisfies Record<string, FlagSpec>;

type FlagName = keyof typeof FLAGS;
const FLAG_NAMES = Object.keys(FLAGS) as FlagName[];

/** What a flag falls back to when left out: for `--ctl-…` and `--rpc-…`, mostly the `--nats-…` flag. */
function fallback(scope: NatsScope, name: FlagName, urlDefault: string): string | undefined {
  const base = `--${flag('nats', name)}`;
  switch (name) {
    case 'url':
      return scope === 'nats' ? urlDefault : base;
    case 'token-file':
      return scope === 'nats'
        ? `$${envName(scope, 'TOKEN')}`
        : `$${envName(scope, 'TOKEN')}, else the --nats-… credentials`;
    case 'password-file':
      return `$${envName(scope, 'PASSWORD')}`;
    case 'tls-ca':
      return scope === 'nats' ? "the system's CAs" : base;
    case 'tls-server-name':
      return scope === 'nats' ? "the URL's host" : base;
    case 'creds':
    case 'nkey':
    case 'user':
      return scope === 'nats' ? undefined : 'the --nats-… credentials';
    default:
      return scope === 'nats' ? undefined : base;
  }
}

/**
 * The flags of the given scopes, for parsing and `--help`. `urlDefault` says what runs without
 * `--nats`.
 */
export function natsFlags(scopes: readonly NatsScope[], urlDefault: string): FlagSpecs {
  const out: Record<string, FlagSpec> = {};
  for (const scope of scopes) {
    for (const name of FLAG_NAMES) {
      const spec: FlagSpec = FLAGS[name];
      const byDefault = fallback(scope, name, urlDefault);
      out[flag(scope, name)] = {
        ...spec,
        ...(name === 'user'
          ? {
              description: `user name; the password comes from --${flag(scope, 'password-file')} or $${envName(scope, 'PASSWORD')}`,
            }
          : {}),
        ...(byDefault === undefined ? {} : { default: byDefault }),
      };
    }
  }
  return out;
}

/**
 * `cirrus up --js-domain`: where the lattice's JetStream is. One domain for both connections, as in
 * 1.x: control and RPC traffic reach the same NATS system, whose JetStream keeps the lattice state
 * (control) and the key-value provider's `nats` buckets (RPC). The lattice commands take no such
 * flag: they speak the control interface only and never touch JetStream themselves.
 */
export const JS_DOMAIN_FLAGS = {
  'js-domain': {
    value: 'DOMAIN',
    description:
      "JetStream domain of the lattice's buckets (links, config, claims, the key-value provider's nats backend); on a leaf node server without JetStream, the hub's domain",
    default: 'the JetStream of the server connected to',
  },
} as const satisfies FlagSpecs;

/** Where a connection goes and how it proves itself. */
export interface NatsSettings {
  servers: string[];
  credentials?: NatsCredentials;
  tls?: NatsTlsOptions;
}

type Values = Readonly<Record<string, string | boolean | (string | boolean)[] | undefined>>;

export interface NatsFlagContext {
  env: Readonly<Record<string, string | undefined>>;
  /** Told about secret files others may read. */
  warn: (message: string) => void;
  /** Largest secret file read (the secretFileMaxBytes limit). */
  secretFileMaxBytes: number;
}

interface ParsedUrl {
  servers: string[];
  credentials?: NatsCredentials;
}

/**
 * Splits credentials out of a NATS URL (`nats://user:pass@host`, `nats://token@host`), because the
 * NATS client takes them as options and would otherwise send none. A `tls://` scheme stays: it
 * requires TLS. Errors never quote the text, which may hold a secret.
 */
export function parseNatsUrl(text: string, flagName = '--nats'): ParsedUrl {
  let credentials: NatsCredentials | undefined;
  const servers = text
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .map((part) => {
      const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(part) ? part : `nats://${part}`;
      let url: URL;
      try {
        url = new URL(withScheme);
      } catch {
        throw new InvalidArgumentError(`a server given to ${flagName} is not a URL`, {
          hint: `e.g. ${flagName} nats://127.0.0.1:4222`,
        });
      }
      if (url.username !== '') {
        const user = decodeURIComponent(url.username);
        const password = decodeURIComponent(url.password);
        credentials = url.password === '' ? { type: 'token', token: user } : { type: 'user', user, password };
        url.username = '';
        url.password = '';
      }
      return url.href.replace(/\/$/, '');
    });
  if (servers.length === 0) {
    throw new InvalidArgumentError(`${flagName} needs a URL`, {
      hint: `e.g. ${flagName} nats://127.0.0.1:4222`,
    });
  }
  return credentials === undefined ? { servers } : { servers, credentials };
}

/** What one scope's flags say on their own, before falling back to `--nats…`. */
interface ScopeFlags {
  url?: ParsedUrl;
  credentials?: NatsCredentials;
  tlsRequired: boolean;
  caFile?: string;
  client?: { certFile: string; keyFile: string };
  serverName?: string;
  handshakeFirst: boolean;
  /** Every flag of the scope given, for "needs a URL" messages. */
  given: string[];
}

function stringValue(values: Values, name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

const SHARED_BITS = 0o077;

/** A secret from a file: trimmed, never echoed; a warning when other users may read the file. */
async function readSecretFile(path: string, flagName: string, context: NatsFlagContext): Promise<string> {
  const file = resolve(path);
  const text = (
    await readRegularTextFile(file, {
      what: `the --${flagName} file`,
      maxBytes: context.secretFileMaxBytes,
      limitName: 'secretFileMaxBytes',
    })
  ).trim();
  // The file was just read, so it exists; a stat failing now only loses the warning.
  const info = await stat(file).catch(() => undefined);
  if (process.platform !== 'win32' && info !== undefined && (info.mode & SHARED_BITS) !== 0) {
    context.warn(
      `${file} (--${flagName}) can be read by other users (mode ${(info.mode & 0o777).toString(8)}); run: chmod 600 ${file}`,
    );
  }
  if (text === '') {
    throw new LatticeCredentialsInvalidError(`${file} given to --${flagName} is empty`, {
      hint: 'the file holds the secret itself, on one line',
    });
  }
  return text;
}

function envName(scope: NatsScope, what: 'TOKEN' | 'PASSWORD'): string {
  return `CIRRUS_${scope.toUpperCase()}_${what}`;
}

async function readScope(values: Values, scope: NatsScope, context: NatsFlagContext): Promise<ScopeFlags> {
  const f = (name: string): string => flag(scope, name);
  const out: ScopeFlags = { tlsRequired: false, handshakeFirst: false, given: [] };
  for (const name of FLAG_NAMES) {
    const value = values[f(name)];
    if (value !== undefined && value !== false) out.given.push(`--${f(name)}`);
  }
  const urlText = stringValue(values, f('url'));
  if (urlText !== undefined) out.url = parseNatsUrl(urlText, `--${f('url')}`);

  const found: { flag: string; load: () => Promise<NatsCredentials> }[] = [];
  const creds = stringValue(values, f('creds'));
  if (creds !== undefined) {
    found.push({
      flag: `--${f('creds')}`,
      load: async () => {
        const path = resolve(creds);
        // Read once for the permission check; the lattice package parses it.
        await readSecretFile(path, f('creds'), context);
        return { type: 'jwt', ...(await readNatsCredsFile(path)), source: `the creds file ${path}` };
      },
    });
  }
  const nkey = stringValue(values, f('nkey'));
  if (nkey !== undefined) {
    found.push({
      flag: `--${f('nkey')}`,
      load: async () => ({
        type: 'nkey',
        seed: await readSecretFile(nkey, f('nkey'), context),
        source: resolve(nkey),
      }),
    });
  }
  const tokenFile = stringValue(values, f('token-file'));
  if (tokenFile !== undefined) {
    found.push({
      flag: `--${f('token-file')}`,
      load: async () => ({
        type: 'token',
        token: await readSecretFile(tokenFile, f('token-file'), context),
        source: resolve(tokenFile),
      }),
    });
  }
  const user = stringValue(values, f('user'));
  const passwordFile = stringValue(values, f('password-file'));
  if (passwordFile !== undefined && user === undefined) {
    throw new UsageError(`--${f('password-file')} needs --${f('user')} NAME`);
  }
  if (user !== undefined) {
    const variable = envName(scope, 'PASSWORD');
    const fromEnv = context.env[variable];
    if (passwordFile === undefined && (fromEnv === undefined || fromEnv === '')) {
      throw new UsageError(`--${f('user')} needs a password`, {
        hint: `put it in a file given to --${f('password-file')} FILE, or in $${variable}`,
      });
    }
    found.push({
      flag: `--${f('user')}`,
      load: async () =>
        passwordFile === undefined
          ? { type: 'user', user, password: fromEnv ?? '', source: `$${variable}` }
          : {
              type: 'user',
              user,
              password: await readSecretFile(passwordFile, f('password-file'), context),
              source: resolve(passwordFile),
            },
    });
  }
  if (found.length > 1) {
    throw new UsageError(`${found.map((c) => c.flag).join(' and ')} exclude each other`, {
      hint: 'a connection proves itself one way: a creds file, an nkey seed, a token, or a user and password',
    });
  }
  const [chosen] = found;
  if (chosen !== undefined) {
    if (out.url?.credentials !== undefined) {
      throw new UsageError(`--${f('url')} carries credentials and ${chosen.flag} gives others`, {
        hint: 'keep credentials out of the URL (a command line is visible to other users)',
      });
    }
    out.credentials = await chosen.load();
  } else if (out.url?.credentials !== undefined) {
    out.credentials = { ...out.url.credentials, source: `the --${f('url')} URL` };
  } else {
    const variable = envName(scope, 'TOKEN');
    const token = context.env[variable];
    if (token !== undefined && token !== '') {
      out.credentials = { type: 'token', token, source: `$${variable}` };
    }
  }

  out.tlsRequired = values[f('tls')] === true;
  out.handshakeFirst = values[f('tls-first')] === true;
  const ca = stringValue(values, f('tls-ca'));
  if (ca !== undefined) out.caFile = resolve(ca);
  const cert = stringValue(values, f('tls-cert'));
  const key = stringValue(values, f('tls-key'));
  if ((cert === undefined) !== (key === undefined)) {
    throw new UsageError(`--${f('tls-cert')} and --${f('tls-key')} go together`, {
      hint: 'a client certificate is presented with its private key',
    });
  }
  if (cert !== undefined && key !== undefined)
    out.client = { certFile: resolve(cert), keyFile: resolve(key) };
  const serverName = stringValue(values, f('tls-server-name'));
  if (serverName !== undefined) out.serverName = serverName;
  return out;
}

function settingsOf(url: ParsedUrl, own: ScopeFlags, base: ScopeFlags | undefined): NatsSettings {
  const settings: NatsSettings = { servers: url.servers };
  const credentials = own.credentials ?? base?.credentials;
  if (credentials !== undefined) settings.credentials = credentials;
  const caFile = own.caFile ?? base?.caFile;
  const client = own.client ?? base?.client;
  const serverName = own.serverName ?? base?.serverName;
  const handshakeFirst = own.handshakeFirst || (base?.handshakeFirst ?? false);
  const required = own.tlsRequired || (base?.tlsRequired ?? false);
  if (
    required ||
    caFile !== undefined ||
    client !== undefined ||
    serverName !== undefined ||
    handshakeFirst
  ) {
    settings.tls = {
      ...(caFile === undefined ? {} : { caFile }),
      ...(client ?? {}),
      ...(serverName === undefined ? {} : { serverName }),
      ...(handshakeFirst ? { handshakeFirst } : {}),
    };
  }
  return settings;
}

/**
 * The settings of the `--nats…` connection; undefined without `--nats` (then no other `--nats-…`
 * flag may be given).
 */
export async function natsSettings(
  values: Values,
  context: NatsFlagContext,
): Promise<NatsSettings | undefined> {
  const own = await readScope(values, 'nats', context);
  if (own.url === undefined) {
    const stray = own.given.filter((name) => name !== '--nats');
    if (stray.length > 0) {
      throw new UsageError(`${stray.join(', ')} ${stray.length === 1 ? 'needs' : 'need'} --nats URL`, {
        hint: 'the local host started by `cirrus up` is reached with its own token; NATS settings apply to --nats',
      });
    }
    return undefined;
  }
  return settingsOf(own.url, own, undefined);
}

/** The control and RPC connections of `cirrus up`; undefined for the embedded lattice. */
export interface HostNatsSettings {
  ctl: NatsSettings;
  rpc: NatsSettings;
  /** Whether the two differ, so the host needs two connections. */
  separate: boolean;
  /** `--js-domain`, for both connections. */
  jsDomain?: string;
}

export async function hostNatsSettings(
  values: Values,
  context: NatsFlagContext,
): Promise<HostNatsSettings | undefined> {
  const base = await readScope(values, 'nats', context);
  const ctl = await readScope(values, 'ctl', context);
  const rpc = await readScope(values, 'rpc', context);
  const given = [...base.given, ...ctl.given, ...rpc.given];
  const jsDomain = stringValue(values, 'js-domain');
  if (given.length === 0) {
    if (jsDomain !== undefined) {
      throw new UsageError('--js-domain needs --nats URL', {
        hint: "the embedded lattice has a JetStream of its own; --js-domain names a NATS lattice's (the hub's, from a leaf node server)",
      });
    }
    return undefined;
  }
  const urlOf = (scope: ScopeFlags, name: 'ctl' | 'rpc'): ParsedUrl => {
    const url = scope.url ?? base.url;
    if (url === undefined) {
      throw new UsageError(
        `the ${name === 'ctl' ? 'control' : 'RPC'} connection has no NATS server: give --nats URL, or --${name}-nats URL`,
        { hint: '--nats sets the server of both; --ctl-nats and --rpc-nats set one each' },
      );
    }
    return url;
  };
  const ctlSettings = settingsOf(urlOf(ctl, 'ctl'), ctl, base);
  const rpcSettings = settingsOf(urlOf(rpc, 'rpc'), rpc, base);
  return {
    ctl: ctlSettings,
    rpc: rpcSettings,
    separate: JSON.stringify(ctlSettings) !== JSON.stringify(rpcSettings),
    ...(jsDomain === undefined ? {} : { jsDomain }),
  };
}

/**
 * What provider processes get in HostData to join the RPC connection's lattice: the servers (a
 * token or user and password inside the URL, the form every NATS client reads; `tls://` when TLS is
 * required), a user JWT and seed or an nkey seed, and the TLS files (a Cirrus extension).
 */
export function providerRpcOf(settings: NatsSettings): ProviderRpc {
  const credentials = settings.credentials;
  const urls = settings.servers.map((server) => {
    const url = new URL(server);
    if (settings.tls !== undefined && url.protocol === 'nats:') url.protocol = 'tls:';
    if (credentials?.type === 'token') url.username = encodeURIComponent(credentials.token);
    if (credentials?.type === 'user') {
      url.username = encodeURIComponent(credentials.user);
      url.password = encodeURIComponent(credentials.password);
    }
    return url.href.replace(/\/$/, '');
  });
  const rpc: { -readonly [K in keyof ProviderRpc]: ProviderRpc[K] } = { url: urls.join(',') };
  if (credentials?.type === 'jwt') {
    rpc.jwt = credentials.jwt;
    rpc.seed = credentials.seed;
  }
  if (credentials?.type === 'nkey') rpc.seed = credentials.seed;
  const tls = settings.tls;
  if (tls !== undefined) {
    rpc.tls = {
      ...(tls.caFile === undefined ? {} : { ca_file: tls.caFile }),
      ...(tls.certFile === undefined ? {} : { cert_file: tls.certFile }),
      ...(tls.keyFile === undefined ? {} : { key_file: tls.keyFile }),
      ...(tls.serverName === undefined ? {} : { server_name: tls.serverName }),
      ...(tls.handshakeFirst === true ? { handshake_first: true } : {}),
    };
  }
  return rpc;
}

/** The host's NATS connections: one, or with different control and RPC settings, two. */
export interface HostNatsConnections {
  rpc: NatsLatticeConnection;
  /** Only when control traffic has settings of its own. */
  control: NatsLatticeConnection | undefined;
  close: () => Promise<void>;
}

export async function connectHostNats(
  settings: HostNatsSettings,
  limits: Limits,
  name: string | undefined,
): Promise<HostNatsConnections> {
  const open = (s: NatsSettings, label: string | undefined): Promise<NatsLatticeConnection> =>
    connectNats({
      servers: s.servers,
      ...(s.credentials === undefined ? {} : { credentials: s.credentials }),
      ...(s.tls === undefined ? {} : { tls: s.tls }),
      ...(name === undefined ? {} : { name }),
      ...(label === undefined ? {} : { label }),
      ...(settings.jsDomain === undefined ? {} : { jsDomain: settings.jsDomain }),
      limits,
    });
  if (!settings.separate) {
    const rpc = await open(settings.rpc, undefined);
    return { rpc, control: undefined, close: () => rpc.close() };
  }
  const control = await open(settings.ctl, 'control connection');
  let rpc: NatsLatticeConnection;
  try {
    rpc = await open(settings.rpc, 'RPC connection');
  } catch (err) {
    await control.close();
    throw err;
  }
  return {
    rpc,
    control,
    close: async () => {
      await Promise.all([rpc.close(), control.close()]);
    },
  };
}
