/**
 * The local files an application manifest names, checked before anything starts: a missing image, a
 * directory, a device such as /dev/zero, a FIFO, or a component above componentMaxBytes would
 * otherwise fail only once the host runs, as an event without the manifest's line.
 */
import { dirname, isAbsolute, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { checkManifest, manifestInvalid } from '@cirrus/apps';
import type { AppComponent, AppManifest, ManifestLimits, ParseOptions, Problem } from '@cirrus/apps';
import {
  ArtifactNotFoundError,
  FileNotFoundError,
  FileTooLargeError,
  isCirrusError,
  limitEnvName,
  ManifestInvalidError,
} from '@cirrus/protocol';
import type { Limits } from '@cirrus/protocol';
import { checkRegularFile, readRegularTextFile } from '@cirrus/runtime';

export type AppFileLimits = Pick<Limits, 'componentMaxBytes'>;

/**
 * The file an image names, found as the host will find it (`file://` URLs, absolute paths, `./` and
 * `../` paths); undefined for URLs and built-in providers, which are not files.
 */
function localPath(image: string): string | Error | undefined {
  if (image.startsWith('file://')) {
    try {
      return fileURLToPath(image);
    } catch (err) {
      return err as Error;
    }
  }
  if (isAbsolute(image) || image.startsWith('./') || image.startsWith('../')) return resolve(image);
  return undefined;
}

function fixFor(code: string, component: AppComponent): string {
  switch (code) {
    case 'FILE_NOT_FOUND':
      return component.kind === 'component'
        ? 'check the path (a relative path starts at the manifest’s directory), or build the component first (cirrus build)'
        : 'check the path (a relative path starts at the manifest’s directory)';
    case 'NOT_A_REGULAR_FILE':
      return component.kind === 'component'
        ? 'name the .wasm file of the component'
        : 'name the program file of the provider';
    case 'FILE_TOO_LARGE':
      return `shrink the component (strip debug info, optimise) or raise componentMaxBytes (${limitEnvName('componentMaxBytes')})`;
    default:
      return 'check that the file exists and that this user may read it';
  }
}

async function imageProblem(component: AppComponent, limits: AppFileLimits): Promise<Problem | undefined> {
  const path = localPath(component.image);
  if (path === undefined) return undefined;
  if (path instanceof Error) {
    return {
      line: component.line,
      message: `component "${component.name}": image ${JSON.stringify(component.image)} is not a file URL this host can read (${path.message})`,
      fix: 'use an absolute file URL such as file:///srv/app/component.wasm, or a path relative to the manifest',
    };
  }
  const isComponent = component.kind === 'component';
  try {
    await checkRegularFile(path, {
      what: isComponent ? 'component file' : 'provider program',
      // Provider programs are run, not loaded into memory; only components have a size limit.
      maxBytes: isComponent ? limits.componentMaxBytes : Number.MAX_SAFE_INTEGER,
      limitName: 'componentMaxBytes',
    });
    return undefined;
  } catch (err) {
    if (!isCirrusError(err)) throw err;
    return {
      line: component.line,
      message: `component "${component.name}": ${err.message}`,
      fix: fixFor(err.code, component),
    };
  }
}

/**
 * Problems with the local files the components name: missing, not a regular file (a directory, a
 * device, a FIFO: checked without opening, so nothing blocks), or a component larger than
 * componentMaxBytes. Each is reported at its component's line.
 */
export async function localImageProblems(manifest: AppManifest, limits: AppFileLimits): Promise<Problem[]> {
  const problems = await Promise.all(manifest.components.map((c) => imageProblem(c, limits)));
  return problems.filter((p): p is Problem => p !== undefined);
}

export interface AppManifestOptions extends Omit<ParseOptions, 'limits'> {
  limits: ManifestLimits & AppFileLimits;
}

/**
 * Parses and validates a manifest and checks its local images; every problem of both is reported in
 * one MANIFEST_INVALID (a YAML syntax error is MANIFEST_PARSE_ERROR, as from parseManifest).
 */
export async function parseAppManifest(text: string, options: AppManifestOptions): Promise<AppManifest> {
  const { manifest, problems } = checkManifest(text, options);
  const all =
    manifest === undefined
      ? problems
      : [...problems, ...(await localImageProblems(manifest, options.limits))];
  if (all.length > 0 || manifest === undefined) throw manifestInvalid(options.source ?? 'manifest', all);
  return manifest;
}

/**
 * Reads a manifest file and checks it, with its local images (relative paths start at the
 * manifest's directory); `flag` names where the file was given, for the hint when it is missing.
 */
export async function readAppManifest(
  file: string,
  limits: Limits,
  flag: string,
): Promise<{ text: string; manifest: AppManifest }> {
  const path = resolve(file);
  let text: string;
  try {
    text = await readRegularTextFile(path, {
      what: 'application file',
      maxBytes: limits.manifestMaxBytes,
      limitName: 'manifestMaxBytes',
    });
  } catch (err) {
    if (err instanceof FileNotFoundError) {
      throw new ArtifactNotFoundError(`application file ${file} does not exist`, {
        hint: `check the path given to ${flag}`,
      });
    }
    if (err instanceof FileTooLargeError) {
      throw new ManifestInvalidError(err.message, {
        hint: 'split the application or raise manifestMaxBytes',
      });
    }
    throw err;
  }
  const manifest = await parseAppManifest(text, {
    source: file,
    baseUrl: pathToFileURL(`${dirname(path)}/`).href,
    limits,
  });
  return { text, manifest };
}
