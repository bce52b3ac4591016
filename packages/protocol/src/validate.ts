import { InvalidArgumentError } from './errors.ts';
import { assertValidId } from './subjects.ts';
import type { Link, StringMap } from './wire.ts';

/**
 * Parsers for inputs that cross a trust boundary (control requests, manifests, CLI flags). Unknown
 * fields are ignored; wrong types and missing required fields are rejected naming the field.
 */

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function fail(field: string, problem: string, hint?: string): never {
  throw new InvalidArgumentError(`${field} ${problem}`, hint === undefined ? {} : { hint });
}

export function requireRecord(value: unknown, what: string): Record<string, unknown> {
  if (!isRecord(value)) fail(what, 'must be a JSON object');
  return value;
}

export function optionalString(obj: Record<string, unknown>, field: string): string | undefined {
  const value = obj[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') fail(field, `must be a string, got ${typeof value}`);
  return value;
}

export function requireString(obj: Record<string, unknown>, field: string): string {
  const value = optionalString(obj, field);
  if (value === undefined || value.length === 0) fail(field, 'is required');
  return value;
}

export function stringList(obj: Record<string, unknown>, field: string): string[] {
  const value = obj[field];
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string'))
    fail(field, 'must be a list of strings');
  return value as string[];
}

export function stringMap(value: unknown, field: string): StringMap {
  if (value === undefined || value === null) return {};
  if (!isRecord(value)) fail(field, 'must be an object of string values');
  const out: StringMap = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string')
      fail(`${field}.${k}`, `must be a string, got ${typeof v}`, 'quote numbers and booleans');
    out[k] = v;
  }
  return out;
}

const WIT_NAME = /^[a-z][a-z0-9-]*$/;

function witName(obj: Record<string, unknown>, field: string): string {
  const value = requireString(obj, field);
  if (!WIT_NAME.test(value))
    fail(field, `${JSON.stringify(value)} is not a WIT name`, 'use lower-case kebab-case, e.g. "keyvalue"');
  return value;
}

/** Parses a 1.x link; `name` defaults to "default", config lists to []. */
export function parseLink(input: unknown): Link {
  const obj = requireRecord(input, 'link');
  const interfaces = stringList(obj, 'interfaces');
  if (interfaces.length === 0)
    fail('interfaces', 'must name at least one interface', 'e.g. ["incoming-handler"]');
  for (const iface of interfaces) {
    if (!WIT_NAME.test(iface)) fail('interfaces', `${JSON.stringify(iface)} is not a WIT interface name`);
  }
  const sourceConfig = stringList(obj, 'source_config');
  const targetConfig = stringList(obj, 'target_config');
  for (const name of [...sourceConfig, ...targetConfig]) assertValidId('config name', name);
  return {
    source_id: assertValidId('source_id', obj['source_id']),
    target: assertValidId('target', obj['target']),
    name: obj['name'] === undefined || obj['name'] === null ? 'default' : assertValidId('name', obj['name']),
    wit_namespace: witName(obj, 'wit_namespace'),
    wit_package: witName(obj, 'wit_package'),
    interfaces,
    source_config: sourceConfig,
    target_config: targetConfig,
  };
}

/** Parses named config values: a flat object of strings. */
export function parseConfigValues(input: unknown): StringMap {
  return stringMap(requireRecord(input, 'config'), 'config');
}
