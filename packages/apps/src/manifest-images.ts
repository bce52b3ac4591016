/**
 * A manifest's text with its components' images replaced, the rest as written: a manifest read from
 * a file names its images relative to that file, and whoever deploys it elsewhere (the application
 * manager on another host) must be given them resolved.
 */
import { isMap, isSeq, parseDocument } from 'yaml';
import type { AppManifest } from './manifest.ts';

/** `text` with the images `manifest` (its parsed form) resolved; a shared component keeps having none. */
export function withImages(text: string, manifest: AppManifest): string {
  const images = new Map(
    manifest.components.filter((c) => c.shared === undefined).map((c) => [c.name, c.image]),
  );
  const document = parseDocument(text);
  const components = document.getIn(['spec', 'components']);
  if (!isSeq(components)) return text;
  for (const item of components.items) {
    if (!isMap(item)) continue;
    const name = item.get('name');
    const image = typeof name === 'string' ? images.get(name) : undefined;
    if (image !== undefined) item.setIn(['properties', 'image'], image);
  }
  return document.toString();
}
