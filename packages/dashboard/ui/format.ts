import type { Link, StringMap } from '@cirrus/protocol';
import type { Unavailable } from '../src/api-types.ts';

export function isUnavailable(value: unknown): value is Unavailable {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && 'unavailable' in value;
}

/** Host and provider ids are 56-character public keys: enough of both ends to tell them apart. */
export function shortId(id: string): string {
  return id.length <= 16 ? id : `${id.slice(0, 8)}…${id.slice(-4)}`;
}

export function ago(atMs: number, nowMs: number = Date.now()): string {
  const seconds = Math.max(0, Math.round((nowMs - atMs) / 1000));
  if (seconds < 60) return `${seconds}s ago`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours}h ago`;
  return `${Math.floor(hours / 24)}d ago`;
}

export function clockTime(atMs: number): string {
  const date = new Date(atMs);
  return Number.isNaN(date.getTime()) ? '—' : date.toLocaleTimeString();
}

export function linkInterface(link: Link): string {
  const interfaces = Array.isArray(link.interfaces) ? link.interfaces.join(',') : '';
  return `${link.wit_namespace}:${link.wit_package}/${interfaces}`;
}

export function entries(map: StringMap | null | undefined): [string, string][] {
  if (typeof map !== 'object' || map === null) return [];
  return Object.entries(map).map(([key, value]) => [key, String(value)]);
}

/** `a, b,,c ` → `['a', 'b', 'c']`: the forms take lists as comma-separated text. */
export function splitList(text: string): string[] {
  return text
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part.length > 0);
}

export type ParsedValues = { ok: true; values: StringMap } | { ok: false; error: string };

/** `key=value` lines, split at the first `=` so values may contain one; blank lines are skipped. */
export function parseKeyValues(text: string): ParsedValues {
  const values: StringMap = {};
  const lines = text.split(/\r?\n/);
  for (const [index, line] of lines.entries()) {
    if (line.trim() === '') continue;
    const at = line.indexOf('=');
    if (at <= 0) return { ok: false, error: `Line ${index + 1}: expected key=value, got "${line}".` };
    const key = line.slice(0, at).trim();
    if (key === '') return { ok: false, error: `Line ${index + 1}: the key is empty.` };
    values[key] = line.slice(at + 1);
  }
  return { ok: true, values };
}

export function isoTime(atMs: number): string {
  const date = new Date(atMs);
  return Number.isNaN(date.getTime()) ? '' : date.toISOString();
}
