/**
 * A manifest's text with its components' images replaced, the rest as written: a manifest read from
 * a file names its images relative to that file, and whoever deploys it elsewhere (the application
 * manager on another host) must be given them resolved.
 */
import { isMap, isSeq, parseDocument } from 'yaml';

/** `images` maps a component's name to its image; components not in it keep theirs. */
export function withImages(text: string, images: ReadonlyMap<string, string>): string {
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
