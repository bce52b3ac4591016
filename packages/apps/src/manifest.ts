/**
 * wadm-style application manifests (OAM `core.oam.dev/v1beta1`, kind `Application`): everything
 * wadm 0.2x reads but secrets and policies. Everything else is rejected with the line and a fix; a
 * manifest that passes can be reconciled without further checks.
 */
import {
  DEFAULT_LIMITS,
  isValidToken,
  limitEnvName,
  ManifestInvalidError,
  ManifestParseError,
} from '@cirrus/protocol';
import type { Limits, StringMap } from '@cirrus/protocol';
import { parseYaml } from './yaml-view.ts';
import type { Problem, Problems, View } from './yaml-view.ts';

export const API_VERSION = 'core.oam.dev/v1beta1';

/** wadm's annotation of an application whose components others may refer to. */
export const SHARED_ANNOTATION = 'experimental.wasmcloud.dev/shared';

/** wadm's weight of a spread that gives none. */
export const DEFAULT_SPREAD_WEIGHT = 100;

export interface NamedConfigRef {
  /** The lattice-wide config name. */
  name: string;
  /** Values to create the config with; absent when the manifest refers to existing config. */
  values?: StringMap;
}

export interface AppLink {
  target: string;
  namespace: string;
  package: string;
  interfaces: string[];
  name: string;
  sourceConfig: NamedConfigRef[];
  targetConfig: NamedConfigRef[];
  line: number;
}

/** One spread of a scaler: hosts whose labels hold every requirement, and its share by weight. */
export interface AppSpread {
  name: string;
  requirements: StringMap;
  weight: number;
  line: number;
}

/**
 * How many of a workload run, and where: a spreadscaler counts `instances` across the lattice (for a
 * provider, hosts running it), shared among its spreads by weight; a daemonscaler runs `instances`
 * on every host that matches one of its spreads (any host when there are none).
 */
export interface AppScaler {
  kind: 'spread' | 'daemon';
  instances: number;
  spread: AppSpread[];
}

/** A component of another application, marked shared, that this one links to or from. */
export interface SharedRef {
  app: string;
  component: string;
}

export interface AppComponent {
  name: string;
  kind: 'component' | 'capability';
  /** Empty for a shared component, which its own application places. */
  image: string;
  shared?: SharedRef;
  id: string;
  config: NamedConfigRef[];
  scaler: AppScaler;
  links: AppLink[];
  line: number;
}

export interface AppManifest {
  name: string;
  version: string | undefined;
  description: string | undefined;
  components: AppComponent[];
  /** Annotated `experimental.wasmcloud.dev/shared: "true"`: other applications may use its components. */
  shared: boolean;
}

/** The limits a manifest must fit before anything starts; a host's whole `Limits` will do. */
export type ManifestLimits = Pick<Limits, 'manifestMaxDepth' | 'manifestMaxNodes' | 'maxInstances'>;

export interface ParseOptions {
  /** Name shown in messages (usually the file path). */
  source?: string;
  /** Base for relative image paths, as a URL (e.g. `file:///srv/app/`). */
  baseUrl?: string;
  /** The host's limits; each one missing is its default. */
  limits?: Partial<ManifestLimits>;
}

/** What a manifest gave, and every problem found in it. */
export interface ManifestCheck {
  /**
   * What could be read, also when there are problems (then only the components that have a name
   * and an image), so that further checks can add their problems to the same report.
   */
  manifest: AppManifest | undefined;
  problems: Problem[];
}

/** `hello-app`, `http component` → `hello_app-http_component`, wadm's id rule. */
export function wadmId(app: string, name: string): string {
  // `u`: one `_` per character (code point), as wadm's Rust `char` replacement does, not per UTF-16 unit.
  const clean = (s: string): string => s.toLowerCase().replace(/[^a-z0-9]/gu, '_');
  return `${clean(app)}-${clean(name)}`;
}

const APP_NAME = /^[A-Za-z0-9_-]+$/;
const WIT_NAME = /^[a-z][a-z0-9-]*$/;

function resolveImage(image: string, baseUrl: string | undefined): string {
  const relative = /^(\.\.?\/)/.exec(image) !== null;
  const fileRelative = /^file:\/\/\.\.?\//.exec(image) !== null;
  if (baseUrl === undefined || (!relative && !fileRelative)) return image;
  return new URL(fileRelative ? image.slice('file://'.length) : image, baseUrl).href;
}

class ManifestReader {
  readonly #problems: Problems;
  readonly #options: ParseOptions;
  readonly #maxInstances: number;
  /** Every component name the manifest declares, including components that have other problems. */
  readonly #declared: { name: string; line: number }[] = [];
  /** Configs this manifest creates (those with properties), by lattice-wide name. */
  readonly #configs = new Map<string, { values: StringMap; line: number }>();
  #appName = 'app';

  constructor(problems: Problems, options: ParseOptions) {
    this.#problems = problems;
    this.#options = options;
    this.#maxInstances = options.limits?.maxInstances ?? DEFAULT_LIMITS.maxInstances;
  }

  read(root: View): AppManifest | undefined {
    if (root.missing) {
      root.problem(
        'the manifest is empty',
        `start with "apiVersion: ${API_VERSION}" and "kind: Application"`,
      );
      return undefined;
    }
    if (
      !root.map(
        ['apiVersion', 'kind', 'metadata', 'spec'],
        'a manifest has apiVersion, kind, metadata and spec',
      )
    ) {
      return undefined;
    }
    const apiVersion = root.get('apiVersion').requiredString(`add "apiVersion: ${API_VERSION}"`);
    if (apiVersion !== undefined && apiVersion !== API_VERSION) {
      root.get('apiVersion').problem(`"${apiVersion}" is not supported`, `use "apiVersion: ${API_VERSION}"`);
    }
    const kind = root.get('kind').requiredString('add "kind: Application"');
    if (kind !== undefined && kind !== 'Application')
      root.get('kind').problem(`"${kind}" is not supported`, 'use "kind: Application"');

    const metadata = root.get('metadata');
    if (metadata.missing)
      metadata.problem('is required', 'add metadata with a name, e.g. "metadata: {name: hello}"');
    metadata.map(['name', 'annotations', 'labels'], 'metadata has name, annotations and labels');
    const name = metadata.get('name').requiredString('give the application a name, e.g. "name: hello"');
    if (name !== undefined && !APP_NAME.test(name)) {
      metadata
        .get('name')
        .problem(`"${name}" is not a valid application name`, 'use letters, digits, "-" and "_" only');
    }
    this.#appName = name ?? 'app';
    const annotations = metadata.get('annotations').stringMap('annotations are name: value pairs');
    metadata.get('labels').stringMap('labels are name: value pairs');

    const spec = root.get('spec');
    if (spec.missing) spec.problem('is required', 'add "spec:" with a list of components');
    spec.map(['components', 'policies'], 'spec has components (and policies)');
    if (spec.get('policies').list('policies is a list').length > 0) {
      spec.get('policies').problem('policies are not supported yet', 'remove spec.policies');
    }
    const componentViews = spec.get('components').list('components is a list of components');
    if (componentViews.length === 0 && !spec.missing) {
      spec
        .get('components')
        .problem('must list at least one component', 'add a component with a name, type and image');
    }
    const components = componentViews
      .map((v) => this.#component(v))
      .filter((c): c is AppComponent => c !== undefined);
    this.#checkNames(components);
    this.#checkLinkTargets(components);
    return {
      name: this.#appName,
      version: annotations['version'],
      description: annotations['description'],
      components,
      shared: annotations[SHARED_ANNOTATION] === 'true',
    };
  }

  #component(view: View): AppComponent | undefined {
    if (
      !view.map(['name', 'type', 'properties', 'traits'], 'a component has name, type, properties and traits')
    ) {
      if (view.missing) view.problem('is empty', 'give the component a name, type and image');
      return undefined;
    }
    const name = view.get('name').requiredString('give the component a name, e.g. "name: http-component"');
    if (name !== undefined) this.#declared.push({ name, line: view.line });
    const typeView = view.get('type');
    const type = typeView.requiredString('set "type: component" or "type: capability"');
    let kind: AppComponent['kind'] = 'component';
    if (type === 'capability') kind = 'capability';
    else if (type !== undefined && type !== 'component' && type !== 'actor') {
      typeView.problem(`"${type}" is not a component type`, 'use "component" or "capability"');
    }
    const props = view.get('properties');
    if (props.missing) props.problem('is required', 'add properties with an image');
    props.map(['image', 'id', 'config', 'secrets', 'application'], 'properties has image, id and config');
    if (!props.get('secrets').missing)
      props.get('secrets').problem('secrets are not supported yet', 'remove secrets');
    const shared = this.#sharedRef(props);
    const image = props.get('application').missing
      ? props.get('image').requiredString('set image to a .wasm file path, a file:// or an http(s):// URL')
      : undefined;
    const explicitId = props.get('id').string('id is a string');
    if (explicitId !== undefined && !isValidToken(explicitId)) {
      props.get('id').problem(`"${explicitId}" is not a valid id`, 'use no ".", "*", ">" or whitespace');
    }
    const config = this.#configList(props.get('config'));

    let scaler: AppScaler | undefined;
    const links: AppLink[] = [];
    for (const trait of view.get('traits').list('traits is a list of traits')) {
      trait.map(['type', 'properties'], 'a trait has type and properties');
      const traitType = trait.get('type').requiredString('set the trait type: spreadscaler or link');
      const tp = trait.get('properties');
      if (traitType === 'spreadscaler' || traitType === 'daemonscaler') {
        if (scaler !== undefined) {
          trait.problem(
            'a component has at most one scaler',
            'keep one spreadscaler or daemonscaler and remove the other',
          );
        }
        scaler = this.#scaler(traitType === 'spreadscaler' ? 'spread' : 'daemon', tp);
        if (!props.get('application').missing) {
          trait.problem(
            'a shared component is scaled by the application it belongs to',
            'remove the scaler; its own application says how many run',
          );
        }
      } else if (traitType === 'link') {
        const link = this.#link(tp, trait.line);
        if (link !== undefined) links.push(link);
      } else if (traitType !== undefined) {
        trait
          .get('type')
          .problem(`unknown trait type "${traitType}"`, 'use spreadscaler, daemonscaler or link');
      }
    }
    if (name === undefined || (image === undefined && shared === undefined)) return undefined;
    return {
      name,
      kind,
      image: image === undefined ? '' : resolveImage(image, this.#options.baseUrl),
      ...(shared === undefined ? {} : { shared }),
      // As wadm computes it: a shared component's id from its application and name.
      id:
        explicitId ??
        (shared === undefined ? wadmId(this.#appName, name) : wadmId(shared.app, shared.component)),
      config,
      scaler: scaler ?? { kind: 'spread', instances: 1, spread: [] },
      links,
      line: view.line,
    };
  }

  /** `properties.application`: a component of a shared application, which takes no image or config here. */
  #sharedRef(props: View): SharedRef | undefined {
    const view = props.get('application');
    if (view.missing) return undefined;
    view.map(['name', 'component'], 'application has the name of a shared application and its component');
    const app = view.get('name').requiredString('name the shared application, e.g. "name: shared-kv"');
    const component = view
      .get('component')
      .requiredString('name the component of that application, e.g. "component: kv"');
    if (!props.get('image').missing) {
      props
        .get('image')
        .problem(
          'a component of a shared application has no image here',
          'remove image, or remove application to run an image of this application',
        );
    }
    if (!props.get('config').missing) {
      props
        .get('config')
        .problem(
          'a component of a shared application takes its config from that application',
          'remove config, or put it in the shared application',
        );
    }
    return app === undefined || component === undefined ? undefined : { app, component };
  }

  #scaler(kind: AppScaler['kind'], props: View): AppScaler {
    props.map(
      ['instances', 'replicas', 'spread'],
      `${kind}scaler properties are instances (or replicas) and spread`,
    );
    const instancesView = props.get('instances').missing ? props.get('replicas') : props.get('instances');
    const instances = instancesView.integer('instances is a whole number, e.g. "instances: 4"');
    if (instancesView.missing) instancesView.problem('is required', 'set "instances: 1" (or more)');
    if (instances !== undefined && instances < 0)
      instancesView.problem('must not be negative', 'use 0 or more');
    if (instances !== undefined && instances > this.#maxInstances) {
      instancesView.problem(
        `${instances} is above this host's limit of ${this.#maxInstances} instances`,
        `use at most ${this.#maxInstances}, or raise maxInstances (${limitEnvName('maxInstances')})`,
      );
    }
    const spreads: AppSpread[] = [];
    for (const entry of props.get('spread').list('spread is a list')) {
      entry.map(['name', 'requirements', 'weight'], 'a spread has name, requirements and weight');
      const name = entry.get('name').requiredString('give the spread a name, e.g. "name: east"');
      const requirements = entry.get('requirements').stringMap('requirements are label: value pairs');
      const weightView = entry.get('weight');
      const weight = weightView.missing
        ? DEFAULT_SPREAD_WEIGHT
        : weightView.integer('weight is a whole number');
      if (weight !== undefined && weight < 0) weightView.problem('must not be negative', 'use 0 or more');
      if (name !== undefined && weight !== undefined) {
        spreads.push({ name, requirements, weight: Math.max(0, weight), line: entry.line });
      }
    }
    if (spreads.length > 0 && spreads.every((spread) => spread.weight === 0)) {
      props.get('spread').problem('every spread has weight 0', 'give at least one spread a weight above 0');
    }
    return { kind, instances: Math.max(0, instances ?? 1), spread: spreads };
  }

  #configList(view: View): NamedConfigRef[] {
    const out: NamedConfigRef[] = [];
    for (const entry of view.list('config is a list of {name, properties}')) {
      entry.map(['name', 'properties'], 'a config entry has name and properties');
      const name = entry.get('name').requiredString('give the config a name');
      if (name === undefined) continue;
      const propsView = entry.get('properties');
      if (propsView.missing) {
        if (!isValidToken(name))
          entry
            .get('name')
            .problem(`"${name}" is not a valid config name`, 'use no ".", "*", ">" or whitespace');
        out.push({ name });
      } else {
        const id = wadmId(this.#appName, name);
        const values = propsView.stringMap('config values are name: value pairs');
        const first = this.#configs.get(id);
        if (first === undefined) this.#configs.set(id, { values, line: entry.line });
        else if (!sameValues(first.values, values)) {
          entry
            .get('name')
            .problem(
              `config "${name}" (${id}) is declared again with different properties (first at line ${first.line})`,
              'give this config another name, or use the same properties in both places',
            );
        }
        out.push({ name: id, values });
      }
    }
    return out;
  }

  #link(props: View, line: number): AppLink | undefined {
    props.map(
      ['target', 'namespace', 'package', 'interfaces', 'name', 'source', 'source_config', 'target_config'],
      'link properties are target, namespace, package, interfaces, name and source',
    );
    const targetView = props.get('target');
    let target: string | undefined;
    let targetConfig: NamedConfigRef[];
    if (targetView.isMap()) {
      targetView.map(['name', 'config', 'secrets'], 'a link target has name and config');
      if (!targetView.get('secrets').missing)
        targetView.get('secrets').problem('secrets are not supported yet', 'remove secrets');
      target = targetView.get('name').requiredString('name the target component of this manifest');
      targetConfig = this.#configList(targetView.get('config'));
    } else {
      target = targetView.requiredString('set target.name to a component of this manifest');
      targetConfig = this.#configList(props.get('target_config'));
    }
    let sourceConfig = this.#configList(props.get('source_config'));
    const source = props.get('source');
    if (!source.missing) {
      source.map(['config', 'secrets'], 'a link source has config');
      if (!source.get('secrets').missing)
        source.get('secrets').problem('secrets are not supported yet', 'remove secrets');
      sourceConfig = [...sourceConfig, ...this.#configList(source.get('config'))];
    }
    const namespace = props.get('namespace').requiredString('set the WIT namespace, e.g. "namespace: wasi"');
    const pkg = props.get('package').requiredString('set the WIT package, e.g. "package: http"');
    for (const [value, view] of [
      [namespace, props.get('namespace')],
      [pkg, props.get('package')],
    ] as const) {
      if (value !== undefined && !WIT_NAME.test(value))
        view.problem(`"${value}" is not a WIT name`, 'use lower-case kebab-case');
    }
    const interfacesView = props.get('interfaces');
    const interfaces = interfacesView
      .list('interfaces is a list, e.g. [incoming-handler]')
      .map((v) => v.string('each interface is a name'))
      .filter((v): v is string => v !== undefined);
    if (interfaces.length === 0)
      interfacesView.problem('must name at least one interface', 'e.g. "interfaces: [incoming-handler]"');
    const name = props.get('name').string('the link name is a string') ?? 'default';
    if (target === undefined || namespace === undefined || pkg === undefined) return undefined;
    return { target, namespace, package: pkg, interfaces, name, sourceConfig, targetConfig, line };
  }

  #checkNames(components: AppComponent[]): void {
    const seen = new Map<string, number>();
    for (const c of this.#declared) {
      const first = seen.get(c.name);
      if (first !== undefined) {
        this.#problems.add(
          c.line,
          `component name "${c.name}" is used twice (first at line ${first})`,
          'give each component its own name',
        );
      } else seen.set(c.name, c.line);
    }
    const ids = new Map<string, AppComponent>();
    for (const c of components) {
      const first = ids.get(c.id);
      if (first === undefined) ids.set(c.id, c);
      else if (first.name !== c.name) {
        this.#problems.add(
          c.line,
          `component id "${c.id}" of "${c.name}" is already the id of "${first.name}" (line ${first.line})`,
          'give one of them its own "id" in properties, or another name',
        );
      }
    }
  }

  #checkLinkTargets(components: AppComponent[]): void {
    const names = [...new Set(this.#declared.map((c) => c.name))];
    for (const c of components) {
      for (const link of c.links) {
        if (!names.includes(link.target)) {
          const guess = names.find((n) => n.toLowerCase() === link.target.toLowerCase());
          this.#problems.add(
            link.line,
            `link from "${c.name}" targets "${link.target}", which is not a component of this manifest`,
            guess !== undefined ? `did you mean "${guess}"?` : `set target to one of: ${names.join(', ')}`,
          );
        }
      }
    }
  }
}

function sameValues(a: StringMap, b: StringMap): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && a[k] === b[k]);
}

function report(source: string, problems: readonly Problem[]): string {
  const lines = problems.map((p) => `  line ${p.line}: ${p.message} (fix: ${p.fix})`);
  return `${source} has ${problems.length} problem${problems.length === 1 ? '' : 's'}:\n${lines.join('\n')}`;
}

/** MANIFEST_INVALID listing `problems` by line, with the first fix as the hint. */
export function manifestInvalid(source: string, problems: readonly Problem[]): ManifestInvalidError {
  const sorted = [...problems].sort((a, b) => a.line - b.line);
  const first = sorted[0];
  return new ManifestInvalidError(report(source, sorted), {
    hint: first === undefined ? undefined : `line ${first.line}: ${first.fix}`,
    details: { problems: sorted },
  });
}

/**
 * Parses and validates a manifest, collecting every problem instead of throwing on the first.
 * Throws MANIFEST_PARSE_ERROR when the text is not one well-formed YAML document within the limits,
 * since nothing can be validated then.
 */
export function checkManifest(text: string, options: ParseOptions = {}): ManifestCheck {
  const source = options.source ?? 'manifest';
  const { root, problems, syntaxError } = parseYaml(text, 'manifest', {
    maxDepth: options.limits?.manifestMaxDepth ?? DEFAULT_LIMITS.manifestMaxDepth,
    maxNodes: options.limits?.manifestMaxNodes ?? DEFAULT_LIMITS.manifestMaxNodes,
  });
  if (syntaxError) {
    const first = problems.list[0];
    throw new ManifestParseError(report(source, problems.list), {
      hint: first === undefined ? undefined : `line ${first.line}: ${first.fix}`,
      details: { problems: problems.list },
    });
  }
  const manifest = new ManifestReader(problems, options).read(root);
  return { manifest, problems: problems.list };
}

/** Parses and validates a manifest; throws MANIFEST_PARSE_ERROR or MANIFEST_INVALID listing every problem. */
export function parseManifest(text: string, options: ParseOptions = {}): AppManifest {
  const { manifest, problems } = checkManifest(text, options);
  if (problems.length > 0 || manifest === undefined)
    throw manifestInvalid(options.source ?? 'manifest', problems);
  return manifest;
}
