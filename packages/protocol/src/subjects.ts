import { InvalidIdError } from './errors.ts';

/**
 * Subject and identifier rules shared by every layer. Component, provider and config identifiers end
 * up as NATS subject tokens and key-value key suffixes, so they must be single tokens.
 */

const TOKEN = /^[^\s.*>]+$/;
const MAX_ID_LENGTH = 256;

export function isValidToken(value: string): boolean {
  return value.length > 0 && value.length <= MAX_ID_LENGTH && TOKEN.test(value);
}

/** Throws INVALID_ID when `value` cannot be used as a subject token (`.`, `*`, `>`, whitespace). */
export function assertValidId(kind: string, value: unknown): string {
  if (typeof value !== 'string' || !isValidToken(value)) {
    const shown = typeof value === 'string' ? JSON.stringify(value) : typeof value;
    throw new InvalidIdError(`${kind} ${shown} is not a valid identifier`, {
      hint: `use 1-${MAX_ID_LENGTH} characters without '.', '*', '>' or whitespace, e.g. "myapp-http_component"`,
    });
  }
  return value;
}

export const DEFAULT_LATTICE = 'default';
export const CTL_TOPIC_PREFIX = 'wasmbus.ctl';

export function ctlPrefix(lattice: string, topicPrefix = CTL_TOPIC_PREFIX): string {
  return `${topicPrefix}.v1.${lattice}`;
}

export function eventSubject(lattice: string, eventName: string): string {
  return `wasmbus.evt.${lattice}.${eventName}`;
}

export function eventType(eventName: string): string {
  return `com.wasmcloud.lattice.${eventName}`;
}

export function latticeDataBucket(lattice: string): string {
  return `LATTICEDATA_${lattice}`;
}

export function configDataBucket(lattice: string): string {
  return `CONFIGDATA_${lattice}`;
}

export const COMPONENT_SPEC_KEY_PREFIX = 'COMPONENT_';
export const CLAIMS_KEY_PREFIX = 'CLAIMS_';

export function componentSpecKey(id: string): string {
  return `${COMPONENT_SPEC_KEY_PREFIX}${id}`;
}
