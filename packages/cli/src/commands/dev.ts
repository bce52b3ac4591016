/**
 * `cirrus dev [DIR]`: the inner loop of a component project. It builds the project, runs it on an
 * embedded host as `cirrus up` does (DIR/app.yaml, or a generated application serving it over
 * HTTP), then rebuilds on every change to the project's files and swaps the running component for
 * the new build without failing a request. A build that fails, or a version that does not start,
 * leaves the previous one serving.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { access, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, extname, isAbsolute, join, relative, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Command } from 'commander';
import { API_VERSION } from '@cirrus/apps';
import type { AppManifest } from '@cirrus/apps';
import { createControlClient } from '@cirrus/control-client';
import type { ControlClient } from '@cirrus/control-client';
import { DEFAULT_HTTP_ADDRESS } from '@cirrus/providers';
import { describeError, ManifestInvalidError, UsageError } from '@cirrus/protocol';
import type { CloudEvent, EventName, Limits } from '@cirrus/protocol';
import { addFlags, flagValues, oneOf } from '../args.ts';
import type { FlagSpecs, FlagValues } from '../args.ts';
import { parseAppManifest, readAppManifest } from '../app-files.ts';
import type { CommandContext } from '../context.ts';
import { LOG_FLAGS } from '../log-flags.ts';
import { runs } from '../program.ts';
import type { Invocation } from '../program.ts';
import { DASHBOARD_FLAGS } from '../serve-dashboard.ts';
import { ENGINES } from './build-engines.ts';
import type { Engine } from './build-engines.ts';
import { readProject } from './build.ts';
import { Changes, ignored, TreeWatcher } from '../source-watch.ts';
import type { Project } from './build.ts';
import { appToDeploy, ENDPOINT_FLAGS, HOST_FLAGS, runHost } from './up.ts';
import type { AppToDeploy, ServedHost } from './up.ts';

/** The most instances of the component the generated application runs at once. */
const GENERATED_INSTANCES = 4;
const CLI = fileURLToPath(new URL('../../bin/cirrus.js', import.meta.url));
const OUTCOMES: readonly EventName[] = ['component_scaled', 'component_scale_failed'];

const DEV_FLAGS = {
  port: {
    value: 'N',
    description: "port of the generated application's HTTP server, when DIR has no app.yaml",
    default: DEFAULT_HTTP_ADDRESS.slice(DEFAULT_HTTP_ADDRESS.lastIndexOf(':') + 1),
  },
  engine: {
    value: 'ENGINE',
    description: `the JavaScript engine: ${ENGINES.join(' or ')} (overrides the project's "engine")`,
    default: 'starlingmonkey',
  },
  lattice: HOST_FLAGS.lattice,
  ...LOG_FLAGS,
  ...DASHBOARD_FLAGS,
  'no-local-endpoint': ENDPOINT_FLAGS['no-local-endpoint'],
} as const satisfies FlagSpecs;

type DevValues = FlagValues<typeof DEV_FLAGS>;

function httpAddress(value: string | undefined): string {
  if (value === undefined) return DEFAULT_HTTP_ADDRESS;
  const port = /^[0-9]{1,5}$/.test(value) ? Number(value) : Number.NaN;
  if (!(port >= 1 && port <= 65_535)) {
    throw new UsageError(`--port must be a port number from 1 to 65535, got ${JSON.stringify(value)}`, {
      hint: 'e.g. --port 8080',
    });
  }
  return `127.0.0.1:${port}`;
}

/** The file a validated manifest's image names (relative paths are file URLs by then), if any. */
function localFile(image: string): string | undefined {
  if (image.startsWith('file://')) return fileURLToPath(image);
  return isAbsolute(image) ? resolve(image) : undefined;
}

function forwardLines(stream: Readable, write: (line: string) => void): void {
  createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY }).on('line', write);
}

/** A build, copied where the host loads it from: a new file each time, so the host loads new bytes. */
interface Staged {
  hash: string;
  /** Counts the builds staged, from 1. */
  number: number;
  /** The copy, as a file URL. */
  ref: string;
}

/** The manifest document stored for an application, as far as a new version of it changes it. */
interface StoredDocument {
  metadata: { annotations?: Record<string, string> };
  spec: { components: { name: string; properties: { image?: string } }[] };
}

class DevSession {
  readonly #project: Project;
  readonly #engine: Engine | undefined;
  readonly #context: CommandContext;
  readonly #output: string;
  readonly #changes = new Changes();
  #watcher: TreeWatcher | undefined;
  #temp: string | undefined;
  #staged = 0;
  /** What runs: the build, and the version of the application that names it. */
  #running: Staged | undefined;
  #version = '';
  #document: StoredDocument | undefined;
  #appName = '';
  /** The components of the application built from this project, by name and by id. */
  #names = new Set<string>();
  #ids: string[] = [];

  constructor(project: Project, engine: Engine | undefined, context: CommandContext) {
    this.#project = project;
    this.#engine = engine;
    this.#context = context;
    this.#output = join(project.dir, project.output);
  }

  /** Watches, builds until a build succeeds, and returns the application to deploy with it. */
  async prepare(
    app: { file: string } | { address: string },
    limits: Limits,
    signal: AbortSignal,
  ): Promise<AppToDeploy[]> {
    const { dir, buildDir } = this.#project;
    await mkdir(buildDir, { recursive: true });
    this.#temp = await mkdtemp(join(buildDir, 'dev-'));
    const skip = relative(dir, buildDir);
    this.#watcher = new TreeWatcher(
      dir,
      (path) => ignored(path, skip),
      () => this.#changes.note(),
      (err) => this.#context.log(`warning: a change may go unseen: ${describeError(err)}`),
    );
    await this.#watcher.add('');
    for (;;) {
      const built = await this.#build(signal);
      if (built !== undefined) {
        const staged = await this.#stage(built);
        this.#running = staged;
        const deploy =
          'file' in app
            ? await this.#projectApp(app.file, staged, limits)
            : await this.#generatedApp(app.address, staged, limits);
        this.#appName = deploy.manifest.name;
        return [deploy];
      }
      if (signal.aborted) return [];
      this.#context.log('waiting for a change to build again');
      if (!(await this.#changes.next(signal))) return [];
    }
  }

  /** DIR/app.yaml, with the project's components' image the first build. */
  async #projectApp(file: string, staged: Staged, limits: Limits): Promise<AppToDeploy> {
    const { text, manifest } = await readAppManifest(file, limits, 'cirrus dev');
    const ours = manifest.components.filter(
      (c) => c.kind === 'component' && localFile(c.image) === this.#output,
    );
    if (ours.length === 0) {
      throw new ManifestInvalidError(`${file} has no component built from this project`, {
        hint: `give the project's component the image ./${this.#project.output}`,
      });
    }
    this.#names = new Set(ours.map((c) => c.name));
    this.#ids = ours.map((c) => c.id);
    return appToDeploy(text, this.#withImage(manifest, staged.ref));
  }

  /** The component alone behind the built-in HTTP server on `address`. */
  async #generatedApp(address: string, staged: Staged, limits: Limits): Promise<AppToDeploy> {
    const name = this.#project.world;
    const document = {
      apiVersion: API_VERSION,
      kind: 'Application',
      metadata: {
        name,
        annotations: { version: `dev-${staged.number}`, description: `${name}, served by cirrus dev` },
      },
      spec: {
        components: [
          {
            name,
            type: 'component',
            properties: { image: staged.ref },
            traits: [{ type: 'spreadscaler', properties: { instances: GENERATED_INSTANCES } }],
          },
          {
            name: 'httpserver',
            type: 'capability',
            properties: { image: 'wasmcloud+builtin://http-server' },
            traits: [
              {
                type: 'link',
                properties: {
                  target: { name },
                  namespace: 'wasi',
                  package: 'http',
                  interfaces: ['incoming-handler'],
                  source: { config: [{ name: 'listen', properties: { address } }] },
                },
              },
            ],
          },
        ],
      },
    };
    const text = JSON.stringify(document, null, 2);
    const manifest = await parseAppManifest(text, { source: 'the generated application', limits });
    this.#names = new Set([name]);
    this.#ids = manifest.components.filter((c) => c.name === name).map((c) => c.id);
    return appToDeploy(text, manifest);
  }

  #withImage(manifest: AppManifest, ref: string): AppManifest {
    return {
      ...manifest,
      components: manifest.components.map((c) => (this.#names.has(c.name) ? { ...c, image: ref } : c)),
    };
  }

  /** Rebuilds and swaps on every change, until `signal` is aborted. */
  async serve(served: ServedHost, signal: AbortSignal): Promise<void> {
    const { host, connection, wadm, limits } = served;
    const control = createControlClient({
      connection,
      lattice: host.latticeName,
      timeoutMs: limits.controlRequestTimeoutMs,
    });
    // As stored: each new version is this document with another image.
    this.#document = (await wadm.get(this.#appName)) as unknown as StoredDocument;
    this.#version = this.#document.metadata.annotations?.['version'] ?? '';
    this.#context.print(`Watching ${relative(process.cwd(), this.#project.dir) || '.'} for changes.`);
    while (await this.#changes.next(signal)) {
      try {
        const built = await this.#build(signal);
        if (built === undefined) {
          if (!signal.aborted) this.#context.log('still serving the previous version');
          continue;
        }
        if (built.hash === this.#running?.hash) {
          this.#context.print('the component is unchanged');
          continue;
        }
        await this.#swap(await this.#stage(built), served, control, signal);
      } catch (err) {
        if (!signal.aborted) this.#context.log(`error: ${describeError(err)}`);
      }
    }
  }

  /**
   * Runs `cirrus build` on the project in a process of its own: componentizing keeps a thread busy
   * for seconds, and this one serves the requests. Resolves with the component, or undefined when
   * the build failed (its errors printed) or `signal` was aborted.
   */
  async #build(signal: AbortSignal): Promise<{ hash: string; bytes: Buffer } | undefined> {
    const started = performance.now();
    this.#context.print('building…');
    const child = spawn(
      process.execPath,
      [CLI, 'build', '.', ...(this.#engine === undefined ? [] : ['--engine', this.#engine])],
      { cwd: this.#project.dir, env: { ...this.#context.env }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const stop = (): void => void child.kill('SIGTERM');
    signal.addEventListener('abort', stop);
    forwardLines(child.stdout, (line) => this.#context.print(`  ${line}`));
    // Errors as `cirrus build` prints them: `error[BUILD_FAILED]: src/component.ts:12:5: …`.
    forwardLines(child.stderr, (line) => this.#context.log(line));
    const code = await new Promise<number | null>((done) => {
      child.once('close', done);
      child.once('error', (err) => {
        this.#context.log(`error: cirrus build did not start: ${describeError(err)}`);
        done(null);
      });
    });
    signal.removeEventListener('abort', stop);
    if (signal.aborted) return undefined;
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    if (code !== 0) {
      this.#context.log(`build failed after ${seconds} s`);
      return undefined;
    }
    const bytes = await readFile(this.#output);
    this.#context.print(`built in ${seconds} s`);
    return { hash: createHash('sha256').update(bytes).digest('hex'), bytes };
  }

  async #stage(built: { hash: string; bytes: Buffer }): Promise<Staged> {
    this.#staged += 1;
    const stem = basename(this.#output, extname(this.#output));
    const path = join(this.#temp as string, `${stem}-${this.#staged}.wasm`);
    await writeFile(path, built.bytes);
    return { hash: built.hash, number: this.#staged, ref: pathToFileURL(path).href };
  }

  /**
   * Replaces the running component with `staged`: the host starts it, switches over, then drains the
   * old one. The application manager keeps the deployed manifest's image, so the swap is a new
   * version of the application naming `staged`: the manager updates the component to it, at once
   * even after a failed start (it holds back only the command that failed).
   */
  async #swap(
    staged: Staged,
    served: ServedHost,
    control: ControlClient,
    signal: AbortSignal,
  ): Promise<void> {
    const { connection, wadm, limits } = served;
    const started = performance.now();
    const version = `dev-${staged.number}`;
    const next = structuredClone(this.#document) as StoredDocument;
    next.metadata.annotations = { ...next.metadata.annotations, version };
    for (const c of next.spec.components) if (this.#names.has(c.name)) c.properties.image = staged.ref;

    const cancel = new AbortController();
    const waiting = AbortSignal.any([signal, cancel.signal]);
    // Subscribed before anything is sent, so that no outcome is missed.
    const outcomes = this.#ids.map((id) =>
      control
        .waitForEvent(
          (event) =>
            event.data['component_id'] === id &&
            event.data['image_ref'] === staged.ref &&
            (event.type.endsWith('_failed') || event.data['max_instances'] !== 0),
          limits.controlWaitTimeoutMs,
          { types: OUTCOMES, signal: waiting },
        )
        .then((event) => ({ id, event, ms: performance.now() - started })),
    );
    for (const outcome of outcomes) outcome.catch(() => undefined);
    let stored = false;
    let failures: string[];
    try {
      await connection.flush();
      await wadm.put(JSON.stringify(next));
      stored = true;
      await wadm.deploy(this.#appName, version);
      const results = await Promise.all(outcomes);
      failures = results.filter((r) => r.event.type.endsWith('_failed')).map((r) => startFailure(r));
      if (failures.length === 0) {
        for (const r of results) this.#context.print(`updated ${r.id} in ${Math.round(r.ms)} ms`);
      }
    } catch (err) {
      cancel.abort();
      if (signal.aborted) return;
      failures = [`the update failed: ${describeError(err)}`];
    }
    if (failures.length > 0) {
      for (const failure of failures) this.#context.log(failure);
      this.#context.log('still serving the previous version');
      // Back to the version that runs, so that the manager does not retry the one that failed.
      if (stored) {
        await wadm.deploy(this.#appName, this.#version);
        await wadm.delete(this.#appName, version);
      }
      return;
    }
    const previous = this.#version;
    this.#document = next;
    this.#version = version;
    this.#running = staged;
    // Each version is kept in one entry of the manifest bucket: without this it would grow past its limit.
    await wadm.delete(this.#appName, previous);
    await this.#removeCopiesBut(staged.ref);
  }

  async #removeCopiesBut(ref: string): Promise<void> {
    const temp = this.#temp as string;
    const keep = basename(fileURLToPath(ref));
    for (const name of await readdir(temp)) {
      if (name !== keep) await rm(join(temp, name), { force: true });
    }
  }

  /** Stops watching and removes the copies. */
  async close(): Promise<void> {
    this.#watcher?.close();
    this.#changes.close();
    if (this.#temp !== undefined) await rm(this.#temp, { recursive: true, force: true });
  }
}

function startFailure(result: { id: string; event: CloudEvent }): string {
  const error = result.event.data['error'];
  return `the new version of ${result.id} did not start: ${typeof error === 'string' ? error : 'no reason given'}`;
}

async function dev(dir: string, values: DevValues, context: CommandContext): Promise<number> {
  const project = await readProject(resolve(dir));
  const engine =
    values.engine === undefined ? undefined : oneOf(values.engine, ENGINES, '--engine', 'starlingmonkey');
  const file = join(project.dir, 'app.yaml');
  const hasApp = await access(file).then(
    () => true,
    () => false,
  );
  if (hasApp && values.port !== undefined) {
    throw new UsageError(`--port is for the generated application, and ${file} is used instead`, {
      hint: 'set the address in app.yaml, or leave --port out',
    });
  }
  const app = hasApp ? { file } : { address: httpAddress(values.port) };
  const session = new DevSession(project, engine, context);
  try {
    return await runHost(
      {
        lattice: values.lattice,
        'log-format': values['log-format'],
        'log-level': values['log-level'],
        dashboard: values.dashboard,
        'no-dashboard': values['no-dashboard'],
        'no-local-endpoint': values['no-local-endpoint'],
      },
      context,
      {
        prepare: (limits, signal) => session.prepare(app, limits, signal),
        serve: (served, signal) => session.serve(served, signal),
      },
    );
  } finally {
    await session.close();
  }
}

export function devCommand(invocation: Invocation): Command {
  const command = new Command('dev')
    .summary('build a component project, serve it, and swap in a new build on every change')
    .description(
      'Builds the component project in DIR, starts a host on the embedded lattice and deploys DIR/app.yaml (or, without one, the component behind the built-in HTTP server on 127.0.0.1:8000), then watches the project: every change is built again and replaces the running component without failing a request. A build that fails, or a version that does not start, leaves the previous one serving. Runs until SIGINT or SIGTERM (a second signal exits at once).',
    )
    .argument('[DIR]', 'the component project (default: the current directory)');
  addFlags(command, DEV_FLAGS);
  return runs(command, invocation, () =>
    dev(command.args[0] ?? '.', flagValues(command, DEV_FLAGS), invocation.context),
  );
}
