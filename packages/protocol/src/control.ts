/**
 * The wasmCloud 1.x control interface, host side, without I/O: which subjects a host serves, how each
 * request body becomes a validated command, and the `{success, message, response?}` reply envelope.
 * Every parser takes the raw body (bytes) or already-parsed JSON and throws a typed error whose
 * message names the offending field, so a malformed request gets a useful `success:false` reply.
 *
 * Parsers are forgiving where real clients are sloppy (see each function) and strict about anything
 * that would break a subject, a key or the host: wrong types, missing ids, ids with `.`/`*`/`>`/
 * whitespace, impossible instance counts, a body addressed to another host. Unknown fields are ignored,
 * as serde does in the Rust host.
 */
import { InvalidArgumentError, InvalidSubjectError } from './errors.ts';
import { assertValidId, isValidToken } from './subjects.ts';
import {
  optionalString,
  parseConfigValues,
  parseLink,
  requireRecord,
  requireString,
  stringList,
  stringMap,
} from './validate.ts';
import type {
  ComponentAuctionRequest,
  CtlResponse,
  DeleteLinkRequest,
  LabelRequest,
  Link,
  ProviderAuctionRequest,
  ScaleComponentRequest,
  StartProviderRequest,
  StopHostRequest,
  StopProviderRequest,
  StringMap,
  UpdateComponentRequest,
} from './wire.ts';

// --- reply envelope ------------------------------------------------------------------------------

/** A successful reply; `response` is left out entirely when absent, as the Rust host's serde does. */
export function ok<T>(message = '', response?: T): CtlResponse<T> {
  return response === undefined ? { success: true, message } : { success: true, message, response };
}

/** A failed reply. */
export function failure(message: string): CtlResponse {
  return { success: false, message };
}

// --- subjects ------------------------------------------------------------------------------------

/** One subscription of the control server: subject and, for lattice-wide singletons, a queue group. */
export interface ControlSubscription {
  subject: string;
  queue?: string;
}

/**
 * Checks a control topic prefix (`wasmbus.ctl` by default): one or more subject tokens. A wildcard or
 * an empty token would make the host listen to, or answer for, subjects that are not its own.
 */
export function assertCtlTopicPrefix(prefix: string): string {
  if (typeof prefix !== 'string' || !prefix.split('.').every(isValidToken)) {
    throw new InvalidSubjectError(
      `control topic prefix ${JSON.stringify(prefix)} is not a valid subject prefix`,
      {
        hint: 'use dot-separated tokens without wildcards or whitespace, e.g. "wasmbus.ctl"',
      },
    );
  }
  return prefix;
}

/**
 * Everything a 1.x host subscribes to under `prefix` (`<ctl_topic_prefix>.v1.<lattice>`). Link, claims
 * and config requests go to one host of the lattice (queue groups named like the Rust host's, so mixed
 * lattices share them), so a put is applied and announced once. `provider.start` without a host id is
 * for lattice-client-core 0.2.3, which forgets the id in the subject (protocol doc §6.4).
 */
export function controlSubscriptions(prefix: string, hostId: string): ControlSubscription[] {
  assertValidId('host id', hostId);
  return [
    { subject: `${prefix}.registry.put` },
    { subject: `${prefix}.host.ping` },
    { subject: `${prefix}.link.*`, queue: `${prefix}.link` },
    { subject: `${prefix}.claims.get`, queue: `${prefix}.claims` },
    { subject: `${prefix}.config.>`, queue: `${prefix}.config` },
    { subject: `${prefix}.component.*.${hostId}` },
    { subject: `${prefix}.provider.*.${hostId}` },
    { subject: `${prefix}.label.*.${hostId}` },
    { subject: `${prefix}.host.*.${hostId}` },
    { subject: `${prefix}.component.auction` },
    { subject: `${prefix}.provider.auction` },
    { subject: `${prefix}.provider.start` },
  ];
}

/** The tokens after `prefix.` (`["component", "scale", "N…"]`), or undefined for a foreign subject. */
export function controlSubjectTokens(subject: string, prefix: string): string[] | undefined {
  if (!subject.startsWith(`${prefix}.`)) return undefined;
  const rest = subject.slice(prefix.length + 1);
  return rest === '' ? undefined : rest.split('.');
}

// --- bodies --------------------------------------------------------------------------------------

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Turns a request body into JSON: bytes are decoded (an empty or all-whitespace body becomes
 * `undefined`), anything else is taken as already parsed.
 */
export function decodeControlBody(body: unknown): unknown {
  if (!(body instanceof Uint8Array)) return body;
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    throw new InvalidArgumentError('request body is not valid UTF-8', { hint: 'send a JSON object' });
  }
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text, refuseProtoKeys) as unknown;
  } catch (err) {
    if (err instanceof InvalidArgumentError) throw err;
    const reason = err instanceof Error ? err.message : String(err);
    throw new InvalidArgumentError(`request body is not valid JSON: ${reason}`, {
      hint: 'send a JSON object',
    });
  }
}

/**
 * JSON.parse keeps `"__proto__"` as an own key, harmless to read but a classic way to poison objects
 * that later get merged or spread; no control request has a use for it.
 */
function refuseProtoKeys(key: string, value: unknown): unknown {
  if (key === '__proto__') {
    throw new InvalidArgumentError('request body contains a "__proto__" key', {
      hint: 'remove the key; no control request uses it',
    });
  }
  return value;
}

/** The request as an object; `emptyOk` for operations whose body may be empty (host.stop). */
function requestObject(body: unknown, what: string, emptyOk = false): Record<string, unknown> {
  const value = decodeControlBody(body);
  if (value === undefined) {
    if (emptyOk) return {};
    throw new InvalidArgumentError(`${what} has an empty body`, {
      hint: `send the ${what} as a JSON object`,
    });
  }
  return requireRecord(value, what);
}

/**
 * Operations that take no input (host.get, host.ping, link.get, claims.get, config.get/del): 1.x
 * clients send nothing or `{}`; anything else that is not a JSON object is a broken request.
 */
export function parseEmptyRequest(body: unknown, what: string): void {
  requestObject(body, what, true);
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  return Array.isArray(value) ? 'array' : typeof value;
}

function present(obj: Record<string, unknown>, field: string): boolean {
  return obj[field] !== undefined && obj[field] !== null;
}

function requiredId(obj: Record<string, unknown>, field: string): string {
  return assertValidId(field, requireString(obj, field));
}

function optionalBoolean(obj: Record<string, unknown>, field: string): boolean | undefined {
  const value = obj[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') {
    throw new InvalidArgumentError(`${field} must be a boolean, got ${typeName(value)}`);
  }
  return value;
}

function configNames(obj: Record<string, unknown>, field: string): string[] {
  return stringList(obj, field).map((name) => assertValidId(`${field} entry`, name));
}

/** Context of a request addressed to one host (`<op>.<verb>.<host>`). */
export interface HostRequestContext {
  /** The host the subject names, i.e. the host handling the request. */
  hostId: string;
  /** Upper bound of an instance count (the host's `maxInstances` limit). */
  maxInstances: number;
}

/**
 * A `host_id` in the body must name the host the subject addresses: a mismatch means the client built
 * the subject and the body from different hosts, and acting on it would do the work on the wrong one.
 * An empty string counts as absent (the Rust types default it to "").
 */
function checkHostId(obj: Record<string, unknown>, hostId: string): void {
  const given = optionalString(obj, 'host_id');
  if (given !== undefined && given !== '' && given !== hostId) {
    throw new InvalidArgumentError(
      `host_id ${JSON.stringify(given)} does not match the host the request was sent to (${hostId})`,
      { hint: 'send the request to the subject ending in the host id named in the body' },
    );
  }
}

/**
 * The instance count of a scale request. The 1.x wire name is `count`; lattice-client-core 0.2.3
 * sends `max_instances` (Rust hosts read that as 0 and stop the component), so both are accepted and
 * `count` wins when both are present. Missing means 0 (stop), as in the Rust host.
 */
function instanceCount(obj: Record<string, unknown>, maxInstances: number): number {
  const field = present(obj, 'count') ? 'count' : present(obj, 'max_instances') ? 'max_instances' : undefined;
  if (field === undefined) return 0;
  const value = obj[field];
  if (typeof value !== 'number') {
    throw new InvalidArgumentError(`${field} must be a number, got ${typeName(value)}`, {
      hint: `use a whole number from 0 (stop) to ${maxInstances}`,
    });
  }
  if (!Number.isInteger(value) || value < 0 || value > maxInstances) {
    throw new InvalidArgumentError(
      `${field} must be a whole number from 0 to ${maxInstances}, got ${value}`,
      {
        hint: `0 stops the component; more than ${maxInstances} needs a higher maxInstances limit (CIRRUS_LIMIT_MAX_INSTANCES)`,
      },
    );
  }
  return value === 0 ? 0 : value; // folds -0 into 0
}

function withAnnotations<T extends object>(
  target: T,
  obj: Record<string, unknown>,
): T & { annotations?: StringMap } {
  return present(obj, 'annotations')
    ? { ...target, annotations: stringMap(obj['annotations'], 'annotations') }
    : target;
}

// --- per-operation parsers -----------------------------------------------------------------------

/** `host.stop.<host>`: empty body, `{}` (lattice-client-core) or `{host_id?, timeout?}` (ms). */
export function parseStopHost(body: unknown, ctx: Pick<HostRequestContext, 'hostId'>): StopHostRequest {
  const obj = requestObject(body, 'stop host request', true);
  checkHostId(obj, ctx.hostId);
  const request: StopHostRequest = { host_id: ctx.hostId };
  if (present(obj, 'timeout')) {
    const timeout = obj['timeout'];
    if (typeof timeout !== 'number' || !Number.isSafeInteger(timeout) || timeout < 0) {
      throw new InvalidArgumentError(
        `timeout must be a whole number of milliseconds, got ${typeof timeout === 'number' ? timeout : typeName(timeout)}`,
      );
    }
    request.timeout = timeout;
  }
  return request;
}

/** `component.scale.<host>`; see {@link instanceCount} for `count` / `max_instances`. */
export function parseScaleComponent(body: unknown, ctx: HostRequestContext): ScaleComponentRequest {
  const obj = requestObject(body, 'component scale request');
  checkHostId(obj, ctx.hostId);
  const request: ScaleComponentRequest = {
    component_ref: requireString(obj, 'component_ref'),
    component_id: requiredId(obj, 'component_id'),
    host_id: ctx.hostId,
    count: instanceCount(obj, ctx.maxInstances),
    config: configNames(obj, 'config'),
  };
  if (present(obj, 'component_limits')) {
    request.component_limits = stringMap(obj['component_limits'], 'component_limits');
  }
  const allowUpdate = optionalBoolean(obj, 'allow_update');
  if (allowUpdate !== undefined) request.allow_update = allowUpdate;
  return withAnnotations(request, obj);
}

/** `component.update.<host>`. */
export function parseUpdateComponent(
  body: unknown,
  ctx: Pick<HostRequestContext, 'hostId'>,
): UpdateComponentRequest {
  const obj = requestObject(body, 'component update request');
  checkHostId(obj, ctx.hostId);
  return withAnnotations(
    {
      component_id: requiredId(obj, 'component_id'),
      new_component_ref: requireString(obj, 'new_component_ref'),
      host_id: ctx.hostId,
    },
    obj,
  );
}

/** `provider.start.<host>` (and the host-less `provider.start` of lattice-client-core 0.2.3). */
export function parseStartProvider(
  body: unknown,
  ctx: Pick<HostRequestContext, 'hostId'>,
): StartProviderRequest {
  const obj = requestObject(body, 'provider start request');
  checkHostId(obj, ctx.hostId);
  return withAnnotations(
    {
      provider_id: requiredId(obj, 'provider_id'),
      provider_ref: requireString(obj, 'provider_ref'),
      host_id: ctx.hostId,
      config: configNames(obj, 'config'),
    },
    obj,
  );
}

/** `provider.stop.<host>`: `provider_ref` is accepted in place of `provider_id`, as the Rust types do. */
export function parseStopProvider(
  body: unknown,
  ctx: Pick<HostRequestContext, 'hostId'>,
): StopProviderRequest {
  const obj = requestObject(body, 'provider stop request');
  checkHostId(obj, ctx.hostId);
  const field = present(obj, 'provider_id') || !present(obj, 'provider_ref') ? 'provider_id' : 'provider_ref';
  return { provider_id: requiredId(obj, field), host_id: ctx.hostId };
}

/** `label.put.<host>`: `{key, value}`; the value may be empty. Key rules are the host's (INVALID_LABEL). */
export function parseLabelPut(body: unknown): Required<LabelRequest> {
  const obj = requestObject(body, 'label request');
  const key = requireString(obj, 'key');
  const value = optionalString(obj, 'value');
  if (value === undefined)
    throw new InvalidArgumentError('value is required', { hint: '{"key":"zone","value":"eu"}' });
  return { key, value };
}

/** `label.del.<host>`: `{key}` (a `value` is ignored). */
export function parseLabelDelete(body: unknown): LabelRequest {
  const obj = requestObject(body, 'label request');
  return { key: requireString(obj, 'key') };
}

/** `link.put`: a 1.x link (`name` defaults to "default", config lists to []). */
export function parsePutLink(body: unknown): Link {
  const value = decodeControlBody(body);
  if (value === undefined || value === null) {
    throw new InvalidArgumentError('link has an empty body', { hint: 'send the link as a JSON object' });
  }
  return parseLink(value);
}

/** `link.del`: `{source_id, wit_namespace, wit_package, name?}`; `name` defaults to "default". */
export function parseDeleteLink(body: unknown): Required<DeleteLinkRequest> {
  const obj = requestObject(body, 'link delete request');
  // lattice-client-core 0.2.3 sends the link name as `link_name`; hosts read `name`.
  const nameField = present(obj, 'name') ? 'name' : present(obj, 'link_name') ? 'link_name' : undefined;
  return {
    source_id: requiredId(obj, 'source_id'),
    name: nameField === undefined ? 'default' : requiredId(obj, nameField),
    wit_namespace: requireString(obj, 'wit_namespace'),
    wit_package: requireString(obj, 'wit_package'),
  };
}

/** The `<name>` token of `config.{put,get,del}.<name>`. */
export function parseConfigName(name: string | undefined): string {
  if (name === undefined) {
    throw new InvalidArgumentError('config name is missing from the subject', {
      hint: 'use config.put.<name>, config.get.<name> or config.del.<name>',
    });
  }
  return assertValidId('config name', name);
}

/** `config.put.<name>`: a JSON object of string values, stored verbatim. */
export function parseConfigPut(name: string | undefined, body: unknown): { name: string; values: StringMap } {
  const configName = parseConfigName(name);
  const value = decodeControlBody(body);
  if (value === undefined || value === null) {
    throw new InvalidArgumentError('config has an empty body', {
      hint: 'send the values as a JSON object of strings, e.g. {"address":"0.0.0.0:8080"}',
    });
  }
  return { name: configName, values: parseConfigValues(value) };
}

/** `component.auction`: `{component_ref, component_id, constraints?}`. */
export function parseComponentAuction(body: unknown): ComponentAuctionRequest {
  const obj = requestObject(body, 'component auction request');
  return {
    component_ref: requireString(obj, 'component_ref'),
    component_id: requiredId(obj, 'component_id'),
    constraints: stringMap(obj['constraints'], 'constraints'),
  };
}

/** `provider.auction`: `{provider_ref, provider_id, constraints?}`. */
export function parseProviderAuction(body: unknown): ProviderAuctionRequest {
  const obj = requestObject(body, 'provider auction request');
  return {
    provider_ref: requireString(obj, 'provider_ref'),
    provider_id: requiredId(obj, 'provider_id'),
    constraints: stringMap(obj['constraints'], 'constraints'),
  };
}

/** Whether a host with `labels` qualifies for an auction: every constraint equals a label. */
export function satisfiesConstraints(constraints: StringMap, labels: StringMap): boolean {
  return Object.entries(constraints).every(([key, value]) => labels[key] === value);
}

/** Credentials for one registry, as `registry.put` sends them. */
export interface RegistryCredential {
  username?: string;
  password?: string;
  token?: string;
  registryType: 'oci';
}

/** `registry.put`: registry host → `{username?, password?, token?, registryType?}`. */
export function parseRegistryPut(body: unknown): Record<string, RegistryCredential> {
  const obj = requestObject(body, 'registry credentials');
  const out: [string, RegistryCredential][] = [];
  for (const [registry, raw] of Object.entries(obj)) {
    const where = `registry ${JSON.stringify(registry)}`;
    if (registry.trim() === '') throw new InvalidArgumentError('registry names must not be empty');
    const entry = raw === null ? {} : requireRecord(raw, where);
    const credential: RegistryCredential = { registryType: 'oci' };
    for (const field of ['username', 'password', 'token'] as const) {
      const value = entry[field];
      if (value === undefined || value === null) continue;
      if (typeof value !== 'string') {
        throw new InvalidArgumentError(`${where}: ${field} must be a string, got ${typeName(value)}`);
      }
      credential[field] = value;
    }
    const type = entry['registryType'];
    if (type !== undefined && type !== null && type !== 'oci') {
      // Only a string is quoted back: serialising an arbitrary value could recurse past the stack.
      const got = typeof type === 'string' ? JSON.stringify(type) : typeName(type);
      throw new InvalidArgumentError(`${where}: registryType must be "oci", got ${got}`);
    }
    out.push([registry, credential]);
  }
  // fromEntries defines own properties, so a registry named "__proto__" cannot swap the prototype.
  return Object.fromEntries(out);
}

// --- claims --------------------------------------------------------------------------------------

function claimText(obj: Record<string, unknown>, long: string, short?: string): string | undefined {
  const value = obj[long] ?? (short === undefined ? undefined : obj[short]);
  if (typeof value === 'string') return value;
  // Revisions are numbers in JWTs; some writers store them unconverted.
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}

/**
 * Turns a stored `CLAIMS_<subject>` value into the flat map `claims.get` replies with, or undefined
 * when it is neither a component nor a provider record. Component records are recognised by
 * `call_alias` and `tags` (a comma-joined string or a list); both forms keep the duplicated short keys
 * (`iss`, `rev`, `sub`) that 1.x clients still read.
 */
export function flattenStoredClaims(value: unknown): StringMap | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const obj = value as Record<string, unknown>;
  const issuer = claimText(obj, 'issuer', 'iss');
  const name = claimText(obj, 'name');
  const revision = claimText(obj, 'revision', 'rev');
  const subject = claimText(obj, 'subject', 'sub');
  const version = claimText(obj, 'version');
  if (issuer === undefined || name === undefined || revision === undefined) return undefined;
  if (subject === undefined || version === undefined) return undefined;
  const common = { iss: issuer, issuer, name, rev: revision, revision, sub: subject, subject, version };
  const callAlias = claimText(obj, 'call_alias');
  const tags = obj['tags'];
  const tagText =
    typeof tags === 'string'
      ? tags
      : Array.isArray(tags) && tags.every((t) => typeof t === 'string')
        ? tags.join(',')
        : undefined;
  if (callAlias !== undefined && tagText !== undefined) {
    return { call_alias: callAlias, ...common, tags: tagText };
  }
  return { ...common, config_schema: claimText(obj, 'config_schema') ?? '' };
}
