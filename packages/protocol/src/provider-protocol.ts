import { HostDataInvalidError } from './errors.ts';
import { assertValidId } from './subjects.ts';
import type { StringMap } from './wire.ts';

/**
 * The capability provider process protocol of wasmCloud 1.x (§4.6): the `HostData` a host writes to a
 * provider's stdin (base64 of its JSON, then `\r\n`), and the subjects host and provider talk on.
 * Field names are snake_case because that is what travels. Pure: no Node modules.
 */

/** A secret as HostData carries it: tagged by kind. */
export type SecretValue =
  | { readonly kind: 'String'; readonly value: string }
  | { readonly kind: 'Bytes'; readonly value: readonly number[] };

/**
 * A link as providers receive it (`wasmcloud_core::InterfaceLinkDefinition`): the named config of
 * both sides resolved into merged maps, and secrets sealed to the provider's xkey (or null).
 */
export interface InterfaceLinkDefinition {
  source_id: string;
  target: string;
  name: string;
  wit_namespace: string;
  wit_package: string;
  interfaces: string[];
  source_config: StringMap;
  target_config: StringMap;
  source_secrets: number[] | null;
  target_secrets: number[] | null;
}

export type ProviderLogLevel = 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'critical';

export interface OtelConfig {
  enable_observability: boolean;
  protocol: 'Http' | 'Grpc';
  additional_ca_paths: string[];
  trace_level: string;
  [field: string]: unknown;
}

/**
 * TLS towards the lattice's NATS server for a provider: a Cirrus extension of HostData (1.x has no
 * such field, and 1.x SDKs ignore unknown fields; they only see the `tls://` scheme of the URL and
 * then trust the system's CAs). Paths are absolute paths of PEM files on the host's machine, which
 * the provider process, started by the host as the same user, can read.
 */
export interface LatticeRpcTls {
  /** CA bundle that signed the server's certificate. */
  ca_file?: string;
  /** Client certificate and its key, for servers that verify clients. */
  cert_file?: string;
  key_file?: string;
  /** Name expected in the server's certificate, when it differs from the URL's host. */
  server_name?: string;
  /** TLS before the NATS greeting (the server's `handshake_first`). */
  handshake_first?: boolean;
}

export interface HostData {
  host_id: string;
  /** The lattice name. */
  lattice_rpc_prefix: string;
  link_name: string;
  lattice_rpc_user_jwt: string;
  lattice_rpc_user_seed: string;
  /**
   * Where the provider connects. A token or user/password travels inside the URL
   * (`nats://<token>@host:port`, `nats://user:pass@host:port`), as NATS clients accept it.
   */
  lattice_rpc_url: string;
  /** Cirrus extension: TLS settings beyond what the URL says; absent without TLS. */
  lattice_rpc_tls?: LatticeRpcTls;
  /** The provider id. */
  provider_key: string;
  env_values: StringMap;
  instance_id: string;
  /** Every link the provider is the source or the target of. */
  link_definitions: InterfaceLinkDefinition[];
  cluster_issuers: string[];
  /** The provider's merged named config. */
  config: StringMap;
  secrets: Record<string, SecretValue>;
  host_xkey_public_key: string;
  provider_xkey_private_key: string;
  default_rpc_timeout_ms: number | null;
  structured_logging: boolean;
  log_level: ProviderLogLevel | null;
  otel_config: OtelConfig;
}

/** A provider's reply on its health subject. */
export interface HealthCheckResponse {
  healthy: boolean;
  message?: string;
}

/** The body of a shutdown request; a provider ignores requests naming another host. */
export interface ProviderShutdownRequest {
  host_id: string;
}

// --- subjects -----------------------------------------------------------------------------------

function rpcPrefix(lattice: string, id: string): string {
  return `wasmbus.rpc.${assertValidId('lattice name', lattice)}.${assertValidId('provider id', id)}`;
}

/** `wasmbus.rpc.<lattice>.<provider>.health`: the host's periodic health request. */
export function providerHealthSubject(lattice: string, providerId: string): string {
  return `${rpcPrefix(lattice, providerId)}.health`;
}

/** `wasmbus.rpc.<lattice>.<provider>.<link name>.shutdown`: the host asks the provider to stop. */
export function providerShutdownSubject(lattice: string, providerId: string, linkName = 'default'): string {
  return `${rpcPrefix(lattice, providerId)}.${assertValidId('link name', linkName)}.shutdown`;
}

/**
 * `wasmbus.rpc.<lattice>.<key>.linkdefs.put`: a link for the provider. `key` is the provider id (1.0
 * hosts, and hosts that seal no secrets) or the provider's xkey public key.
 */
export function providerLinkPutSubject(lattice: string, key: string): string {
  return `${rpcPrefix(lattice, key)}.linkdefs.put`;
}

/** `wasmbus.rpc.<lattice>.<provider>.linkdefs.del`: a link the provider was part of is gone. */
export function providerLinkDelSubject(lattice: string, providerId: string): string {
  return `${rpcPrefix(lattice, providerId)}.linkdefs.del`;
}

/** `wasmbus.rpc.<lattice>.<provider>.config.update`: the provider's merged named config changed. */
export function providerConfigUpdateSubject(lattice: string, providerId: string): string {
  return `${rpcPrefix(lattice, providerId)}.config.update`;
}

// --- HostData encoding ----------------------------------------------------------------------------

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
/** btoa takes a "binary string"; spreading a huge array into String.fromCharCode would overflow. */
const BINARY_CHUNK = 0x8000;

function toBase64(bytes: Uint8Array): string {
  let binary = '';
  for (let at = 0; at < bytes.length; at += BINARY_CHUNK) {
    binary += String.fromCharCode(...bytes.subarray(at, at + BINARY_CHUNK));
  }
  return btoa(binary);
}

/** The line a host writes to a provider's stdin: base64 (standard, padded) of the JSON, no newline. */
export function encodeHostData(data: HostData): string {
  return toBase64(utf8.encode(JSON.stringify(data)));
}

function invalid(
  message: string,
  hint = 'the host that started this provider sent malformed HostData',
): never {
  throw new HostDataInvalidError(message, { hint });
}

type Json = Record<string, unknown>;

function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function str(obj: Json, field: string, where: string, required = false): string {
  const value = obj[field];
  if (value === undefined || value === null) {
    if (required) invalid(`${where}${field} is missing`);
    return '';
  }
  if (typeof value !== 'string') invalid(`${where}${field} must be a string, got ${typeof value}`);
  if (required && value === '') invalid(`${where}${field} is empty`);
  return value;
}

function strMap(obj: Json, field: string, where: string): StringMap {
  const value = obj[field];
  if (value === undefined || value === null) return {};
  if (!isRecord(value)) invalid(`${where}${field} must be an object of strings`);
  const out: StringMap = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string') invalid(`${where}${field}.${k} must be a string, got ${typeof v}`);
    out[k] = v;
  }
  return out;
}

function strList(obj: Json, field: string, where: string): string[] {
  const value = obj[field];
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
    invalid(`${where}${field} must be a list of strings`);
  }
  return value as string[];
}

function byteList(obj: Json, field: string, where: string): number[] | null {
  const value = obj[field];
  if (value === undefined || value === null) return null;
  if (
    !Array.isArray(value) ||
    value.some((v) => typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 255)
  ) {
    invalid(`${where}${field} must be null or a list of byte values`);
  }
  return value as number[];
}

/**
 * Validates a link as a provider receives it, in HostData or on `linkdefs.put`/`linkdefs.del`
 * (where `*_config` may be empty). Throws HOST_DATA_INVALID naming the field.
 */
export function parseInterfaceLinkDefinition(input: unknown, where = 'link: '): InterfaceLinkDefinition {
  if (!isRecord(input)) invalid(`${where}must be a JSON object`);
  return {
    source_id: str(input, 'source_id', where, true),
    target: str(input, 'target', where, true),
    name: str(input, 'name', where) || 'default',
    wit_namespace: str(input, 'wit_namespace', where, true),
    wit_package: str(input, 'wit_package', where, true),
    interfaces: strList(input, 'interfaces', where),
    source_config: strMap(input, 'source_config', where),
    target_config: strMap(input, 'target_config', where),
    source_secrets: byteList(input, 'source_secrets', where),
    target_secrets: byteList(input, 'target_secrets', where),
  };
}

function secrets(obj: Json): Record<string, SecretValue> {
  const value = obj['secrets'];
  if (value === undefined || value === null) return {};
  if (!isRecord(value)) invalid('secrets must be an object');
  const out: Record<string, SecretValue> = {};
  for (const [name, secret] of Object.entries(value)) {
    if (isRecord(secret) && secret['kind'] === 'String' && typeof secret['value'] === 'string') {
      out[name] = { kind: 'String', value: secret['value'] };
      continue;
    }
    if (isRecord(secret) && secret['kind'] === 'Bytes') {
      const bytes = byteList(secret, 'value', `secrets.${name}.`);
      if (bytes !== null) {
        out[name] = { kind: 'Bytes', value: bytes };
        continue;
      }
    }
    invalid(`secrets.${name} must be {"kind":"String","value":"…"} or {"kind":"Bytes","value":[…]}`);
  }
  return out;
}

const LOG_LEVELS: readonly ProviderLogLevel[] = ['error', 'warn', 'info', 'debug', 'trace', 'critical'];

function logLevel(obj: Json): ProviderLogLevel | null {
  const value = obj['log_level'];
  if (value === undefined || value === null) return null;
  // The Rust host serialises its level enum in lower case; other hosts may capitalise it.
  const level = typeof value === 'string' ? value.toLowerCase() : undefined;
  if (level === undefined || !(LOG_LEVELS as readonly string[]).includes(level)) {
    invalid(`log_level must be one of ${LOG_LEVELS.join(', ')}`);
  }
  return level as ProviderLogLevel;
}

function rpcTls(obj: Json): LatticeRpcTls | undefined {
  const value = obj['lattice_rpc_tls'];
  if (value === undefined || value === null) return undefined;
  if (!isRecord(value)) invalid('lattice_rpc_tls must be an object');
  const out: LatticeRpcTls = {};
  for (const field of ['ca_file', 'cert_file', 'key_file', 'server_name'] as const) {
    const text = str(value, field, 'lattice_rpc_tls.');
    if (text !== '') out[field] = text;
  }
  const first = value['handshake_first'];
  if (first !== undefined && first !== null && typeof first !== 'boolean') {
    invalid('lattice_rpc_tls.handshake_first must be a boolean');
  }
  if (first === true) out.handshake_first = true;
  return out;
}

function otelConfig(obj: Json): OtelConfig {
  const value = obj['otel_config'];
  const base: OtelConfig = {
    enable_observability: false,
    protocol: 'Http',
    additional_ca_paths: [],
    trace_level: 'info',
  };
  if (value === undefined || value === null) return base;
  if (!isRecord(value)) invalid('otel_config must be an object');
  const protocol = value['protocol'] ?? 'Http';
  if (protocol !== 'Http' && protocol !== 'Grpc') invalid('otel_config.protocol must be "Http" or "Grpc"');
  const enable = value['enable_observability'] ?? false;
  if (typeof enable !== 'boolean') invalid('otel_config.enable_observability must be a boolean');
  return {
    ...value,
    enable_observability: enable,
    protocol,
    additional_ca_paths: strList(value, 'additional_ca_paths', 'otel_config.'),
    trace_level: str(value, 'trace_level', 'otel_config.') || 'info',
  };
}

function rpcTimeout(obj: Json): number | null {
  const value = obj['default_rpc_timeout_ms'];
  if (value === undefined || value === null) return null;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    invalid('default_rpc_timeout_ms must be a positive whole number');
  }
  return value;
}

/**
 * Validates HostData JSON. Fields wasmCloud hosts may leave out get their Rust defaults; the ones a
 * provider cannot run without (host id, lattice, URL, provider id) are required.
 */
export function parseHostData(input: unknown): HostData {
  if (!isRecord(input)) invalid('HostData must be a JSON object');
  const links = input['link_definitions'] ?? [];
  if (!Array.isArray(links)) invalid('link_definitions must be a list');
  const structured = input['structured_logging'] ?? false;
  if (typeof structured !== 'boolean') invalid('structured_logging must be a boolean');
  const lattice = str(input, 'lattice_rpc_prefix', '', true);
  const providerKey = str(input, 'provider_key', '', true);
  const tls = rpcTls(input);
  try {
    assertValidId('lattice_rpc_prefix', lattice);
    assertValidId('provider_key', providerKey);
  } catch (err) {
    invalid(err instanceof Error ? err.message : String(err));
  }
  return {
    host_id: str(input, 'host_id', '', true),
    lattice_rpc_prefix: lattice,
    link_name: str(input, 'link_name', '') || 'default',
    lattice_rpc_user_jwt: str(input, 'lattice_rpc_user_jwt', ''),
    lattice_rpc_user_seed: str(input, 'lattice_rpc_user_seed', ''),
    lattice_rpc_url: str(input, 'lattice_rpc_url', '', true),
    ...(tls === undefined ? {} : { lattice_rpc_tls: tls }),
    provider_key: providerKey,
    env_values: strMap(input, 'env_values', ''),
    instance_id: str(input, 'instance_id', ''),
    link_definitions: links.map((link, i) => parseInterfaceLinkDefinition(link, `link_definitions[${i}].`)),
    cluster_issuers: strList(input, 'cluster_issuers', ''),
    config: strMap(input, 'config', ''),
    secrets: secrets(input),
    host_xkey_public_key: str(input, 'host_xkey_public_key', ''),
    provider_xkey_private_key: str(input, 'provider_xkey_private_key', ''),
    default_rpc_timeout_ms: rpcTimeout(input),
    structured_logging: structured,
    log_level: logLevel(input),
    otel_config: otelConfig(input),
  };
}

/**
 * Decodes what a host wrote to a provider's stdin: base64 of the HostData JSON, surrounding
 * whitespace (the `\r\n`) ignored. Throws HOST_DATA_INVALID saying which step failed.
 */
export function decodeHostData(text: string): HostData {
  const trimmed = text.trim();
  if (trimmed === '')
    invalid('no HostData: stdin was empty', 'start the provider from a host, or pass HostData');
  if (trimmed.length % 4 !== 0 || !BASE64.test(trimmed)) invalid('HostData is not standard padded base64');
  let json: string;
  try {
    const binary = atob(trimmed);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
    json = strictUtf8.decode(bytes);
  } catch {
    invalid('HostData is not base64 of UTF-8 text');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (err) {
    invalid(`HostData is not JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  return parseHostData(parsed);
}

/** Parses a health reply; anything but `{"healthy": true, …}` counts as unhealthy. */
export function parseHealthCheckResponse(text: string): HealthCheckResponse {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { healthy: false, message: 'the health reply is not JSON' };
  }
  if (!isRecord(parsed)) return { healthy: false, message: 'the health reply is not a JSON object' };
  const message = parsed['message'];
  return {
    healthy: parsed['healthy'] === true,
    ...(typeof message === 'string' ? { message } : {}),
  };
}
