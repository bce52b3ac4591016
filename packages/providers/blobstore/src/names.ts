/**
 * How blobstore names become file names. A container is one directory under the root and an object
 * one file in it, so each name must end up as exactly one path component that cannot climb out:
 * container names are checked and used as they are, object names are percent-encoded (a `/` in them
 * is a virtual hierarchy, never a directory). No name starts with `.` on disk, which keeps `.` and
 * `..` out and leaves dot-names free for the store's own files.
 */
import { BlobstoreInvalidNameError } from '@cirrus/protocol';

/** The longest file name common filesystems accept (NAME_MAX), in bytes. */
export const MAX_FILE_NAME_BYTES = 255;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Bytes kept as they are in an encoded object name; everything else is written `%XX`. */
function isPlain(byte: number, first: boolean): boolean {
  return (
    (byte >= 0x30 && byte <= 0x39) ||
    (byte >= 0x41 && byte <= 0x5a) ||
    (byte >= 0x61 && byte <= 0x7a) ||
    byte === 0x2d ||
    byte === 0x5f ||
    byte === 0x7e ||
    (byte === 0x2e && !first)
  );
}

/** Control characters have no business in a name and make logs and listings ambiguous. */
function hasControl(name: string): boolean {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

function refuse(kind: string, name: string, problem: string, hint?: string): never {
  const shown = JSON.stringify(name.length > 80 ? `${name.slice(0, 80)}…` : name);
  throw new BlobstoreInvalidNameError(`${kind} name ${shown} ${problem}`, hint === undefined ? {} : { hint });
}

function checkCommon(kind: string, name: unknown): asserts name is string {
  if (typeof name !== 'string') throw new BlobstoreInvalidNameError(`${kind} name must be a string`);
  if (name === '') refuse(kind, name, 'is empty');
  if (!name.isWellFormed()) refuse(kind, name, 'is not valid Unicode');
  if (hasControl(name)) refuse(kind, name, 'contains a control character (NUL, newline, …)');
}

/** Checks a container name; it is used as the directory name unchanged. */
export function checkContainerName(name: unknown): string {
  checkCommon('container', name);
  if (name.includes('/') || name.includes('\\')) {
    refuse('container', name, 'contains a path separator', 'container names are one word: no / or \\');
  }
  if (name.startsWith('.')) refuse('container', name, 'starts with "."');
  if (encoder.encode(name).byteLength > MAX_FILE_NAME_BYTES) {
    refuse('container', name, `is longer than ${MAX_FILE_NAME_BYTES} bytes`);
  }
  return name;
}

/**
 * Checks an object name and returns its file name. Names that read like a path escape (an absolute
 * path, a `.` or `..` segment) or use `\` are refused outright, so a name means the same on every
 * platform and in every tool that shows it as a path.
 */
export function objectFileName(name: unknown): string {
  checkCommon('object', name);
  if (name.includes('\\')) refuse('object', name, 'contains "\\"', 'use / for a hierarchy of names');
  if (name.startsWith('/')) refuse('object', name, 'is an absolute path');
  if (name.split('/').some((segment) => segment === '.' || segment === '..')) {
    refuse('object', name, 'has a "." or ".." segment');
  }
  const file = encodeFileName(name);
  if (file.length > MAX_FILE_NAME_BYTES) {
    refuse(
      'object',
      name,
      `is too long: stored as ${file.length} bytes, more than ${MAX_FILE_NAME_BYTES}`,
      'characters other than letters, digits and - _ . ~ take three bytes each on disk',
    );
  }
  return file;
}

function encodeFileName(name: string): string {
  let out = '';
  const bytes = encoder.encode(name);
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i] as number;
    out += isPlain(byte, i === 0)
      ? String.fromCharCode(byte)
      : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/**
 * The object name a file in a container stands for, or undefined for a file the store did not
 * write (its own temporary files, anything not in the one encoding `objectFileName` produces).
 */
export function objectNameOf(file: string): string | undefined {
  const bytes: number[] = [];
  for (let i = 0; i < file.length; i++) {
    const c = file.charCodeAt(i);
    if (c !== 0x25) {
      bytes.push(c);
      continue;
    }
    const hex = file.slice(i + 1, i + 3);
    if (!/^[0-9A-F]{2}$/.test(hex)) return undefined;
    bytes.push(Number.parseInt(hex, 16));
    i += 2;
  }
  let name: string;
  try {
    name = decoder.decode(Uint8Array.from(bytes));
  } catch {
    return undefined;
  }
  try {
    return objectFileName(name) === file ? name : undefined;
  } catch {
    return undefined;
  }
}
