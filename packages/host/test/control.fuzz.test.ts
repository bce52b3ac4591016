/**
 * Fuzzing a real host's control interface on the embedded lattice: random subjects from the control
 * subject set (right and wrong host ids, missing and extra tokens, unknown verbs) with random bodies
 * (arbitrary bytes, objects of control fields holding hostile values, truncated JSON). Each request
 * is answered within the deadline with a well-formed reply, or stays unanswered exactly where the 1.x
 * protocol says so; no handler throws anything but a Cirrus error; and afterwards the host still
 * answers host.ping with its inventory, links and labels unchanged. Requests that would validly
 * change the host are left out (they are the happy path of the other tests).
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createMemoryLattice, subjectMatches } from '@cirrus/lattice';
import type { LatticeConnection, MemoryLattice } from '@cirrus/lattice';
import {
  controlSubscriptions,
  decodeControlBody,
  ERROR_CODES,
  NoRespondersError,
  parseComponentAuction,
  parseConfigPut,
  parseDeleteLink,
  parseLabelDelete,
  parseLabelPut,
  parseProviderAuction,
  parsePutLink,
  parseScaleComponent,
  parseStartProvider,
  parseStopHost,
  parseUpdateComponent,
  resolveLimits,
  sameLinkIdentity,
} from '@cirrus/protocol';
import type { CtlResponse, HostInventory, LogFields, Logger } from '@cirrus/protocol';
import { assemble, fc, fuzzAsync, tempDir, TRAP_WAT } from '@cirrus/testing';
import type { TempDir } from '@cirrus/testing';
import { createHost } from '../src/index.ts';
import type { Host } from '../src/index.ts';
import { WITH_BUILTINS } from './support.ts';

const P = 'wasmbus.ctl.v1.default';
const OTHER_HOST = 'NBOTHERAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
/** Deadline for an answer; a silent request is listened to for this long before it counts as silent. */
const ANSWER_MS = 1000;
const SILENCE_MS = 50;
/** An auction a host does not qualify for is never answered; this is how long a bid may take. */
const AUCTION_MS = 200;
const MAX_INSTANCES = 10;

type Arg = 'none' | 'host' | 'name';

/** The control operations, as the host routes them (`<noun>.<verb>[.<arg>]`). */
const ROUTES: readonly (readonly [string, string, Arg])[] = [
  ['host', 'ping', 'none'],
  ['host', 'get', 'host'],
  ['host', 'stop', 'host'],
  ['component', 'scale', 'host'],
  ['component', 'update', 'host'],
  ['component', 'auction', 'none'],
  ['provider', 'start', 'host'],
  ['provider', 'start', 'none'],
  ['provider', 'stop', 'host'],
  ['provider', 'auction', 'none'],
  ['label', 'put', 'host'],
  ['label', 'del', 'host'],
  ['link', 'put', 'none'],
  ['link', 'del', 'none'],
  ['link', 'get', 'none'],
  ['claims', 'get', 'none'],
  ['config', 'put', 'name'],
  ['config', 'get', 'name'],
  ['config', 'del', 'name'],
  ['registry', 'put', 'none'],
];

/** Host-id placeholder in generated subjects, replaced once the host exists. */
const SELF = '$self';

const token = fc.oneof(
  fc.constantFrom('ping', 'get', 'put', 'del', 'x', 'fuzz-cfg', 'existing', OTHER_HOST, SELF),
  fc.stringMatching(/^[a-zA-Z0-9_-]{1,12}$/),
);

/** Subject tokens after the prefix: a real route with a right or wrong argument, or a near miss. */
const subjectTokens: fc.Arbitrary<string[]> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc
      .tuple(
        fc.constantFrom(...ROUTES),
        fc.constantFrom('right', 'right', 'right', 'right', 'wrong', 'missing', 'extra'),
        token,
      )
      .map(([[noun, verb, arg], how, extra]) => {
        const right = arg === 'host' ? SELF : arg === 'name' ? 'fuzz-cfg' : undefined;
        if (how === 'missing' || (how === 'right' && right === undefined)) return [noun, verb];
        if (how === 'right') return [noun, verb, right as string];
        if (how === 'wrong') return [noun, verb, arg === 'host' ? OTHER_HOST : extra];
        return [noun, verb, right ?? extra, extra];
      }),
  },
  { weight: 1, arbitrary: fc.array(token, { minLength: 1, maxLength: 4 }) },
);

const FIELDS = [
  'host_id',
  'timeout',
  'component_ref',
  'component_id',
  'new_component_ref',
  'count',
  'max_instances',
  'config',
  'annotations',
  'allow_update',
  'provider_id',
  'provider_ref',
  'key',
  'value',
  'source_id',
  'target',
  'name',
  'link_name',
  'wit_namespace',
  'wit_package',
  'interfaces',
  'constraints',
  'registryType',
  'ghcr.io',
  '__proto__',
  'constructor',
];

/** JSON text of a field value: plausible, wrong-typed, or hostile. */
const fieldText: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '"steady2"',
    '"file:///nowhere.wasm"',
    `"${SELF}"`,
    `"${OTHER_HOST}"`,
    '"zone"',
    '"a.b"',
    '""',
    '1',
    '-0',
    '1e999',
    '123456789012345678901234567890',
    '3.5',
    'null',
    'true',
    '["c"]',
    '["a.b"]',
    '{"k":"v"}',
    '{"k":1}',
    '{"__proto__":{"polluted":true}}',
    '{"registryType":"docker"}',
  ),
  fc.integer({ min: 1, max: 8000 }).map((n) => `${'['.repeat(n)}${']'.repeat(n)}`),
  fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)),
);

const encoder = new TextEncoder();
const utf8 = new TextDecoder('utf-8', { fatal: true });

const body: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 48 }) },
  {
    weight: 3,
    arbitrary: fc
      .tuple(
        fc.uniqueArray(fc.tuple(fc.constantFrom(...FIELDS), fieldText), {
          maxLength: 6,
          selector: ([field]) => field,
        }),
        fc.option(fc.nat(), { nil: undefined }),
      )
      .map(([entries, cut]) => {
        const bytes = encoder.encode(`{${entries.map(([k, v]) => `"${k}":${v}`).join(',')}}`);
        return cut === undefined ? bytes : bytes.subarray(0, cut % (bytes.length + 1));
      }),
  },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom('', '{}', 'null', '[]', '"x"', '{"host_id":"$self"}')
      .map((t) => encoder.encode(t)),
  },
);

/** What the host must do with a request. */
type Expect = 'reply' | 'reply-or-silence' | 'silence' | 'no-responders' | 'skip';

interface Snapshot {
  inventory: Partial<HostInventory>;
  links: string;
  labels: string;
}

/** A logger that keeps what the control server reports about requests it could not handle. */
function recordingLogger(): { logger: Logger; problems: string[] } {
  const problems: string[] = [];
  const make = (fields: LogFields): Logger => ({
    debug: (message, extra) => {
      if (message === 'control request refused' && extra?.['code'] === 'INTERNAL') {
        problems.push(`${message}: ${JSON.stringify({ ...fields, ...extra })}`);
      }
    },
    info: () => {},
    warn: () => {},
    error: (message, extra) => {
      if (fields['component'] === 'control') problems.push(`${message}: ${JSON.stringify(extra)}`);
    },
    child: (more) => make({ ...fields, ...more }),
  });
  return { logger: make({}), problems };
}

/** What `parse` returns, or undefined when it refuses the request. */
function parsed<T>(parse: () => T): T | undefined {
  try {
    return parse();
  } catch {
    return undefined;
  }
}

const KNOWN_FAILURES =
  /^(unsupported subject|component \S+ not found|provider with that ID is (not|already) running)$/;

function assertWellFormed(reply: unknown, subject: string): void {
  assert.ok(
    typeof reply === 'object' && reply !== null && !Array.isArray(reply),
    `${subject}: not an object`,
  );
  const { success, message } = reply as CtlResponse<unknown>;
  assert.equal(typeof success, 'boolean', `${subject}: success`);
  assert.equal(typeof message, 'string', `${subject}: message`);
  for (const key of Object.keys(reply)) assert.ok(['success', 'message', 'response'].includes(key), key);
  if (!success) {
    assert.equal('response' in reply, false, `${subject}: a failure carries no response`);
    const code = /^([A-Z_]+): \S/.exec(message)?.[1];
    assert.ok(
      (code !== undefined && ERROR_CODES.includes(code)) || KNOWN_FAILURES.test(message),
      `${subject}: failure message ${JSON.stringify(message)} has no error code`,
    );
  }
}

describe('control interface under fuzzing', () => {
  let dir: TempDir;
  let lattice: MemoryLattice;
  let client: LatticeConnection;
  let host: Host;
  let problems: string[];
  let initial: Snapshot;

  const snapshot = (): Snapshot => {
    const inventory: Partial<HostInventory> = host.inventory();
    delete inventory.uptime_seconds;
    delete inventory.uptime_human;
    return { inventory, links: JSON.stringify(host.links()), labels: JSON.stringify(host.labels()) };
  };

  before(async () => {
    dir = await tempDir();
    const recorded = recordingLogger();
    problems = recorded.problems;
    lattice = createMemoryLattice();
    client = lattice.connect();
    host = await createHost({
      ...WITH_BUILTINS,
      lattice: lattice.connect(),
      cacheDir: join(dir.path, 'cache'),
      allowFileLoad: true,
      heartbeatIntervalMs: 0,
      labels: { zone: 'a' },
      limits: resolveLimits({ maxInstances: MAX_INSTANCES }),
      logger: recorded.logger,
    });
    const wasm = join(dir.path, 'trap.wasm');
    await writeFile(wasm, await assemble(TRAP_WAT));
    await host.scaleComponent({ componentRef: wasm, componentId: 'steady', count: 1 });
    await host.putConfig('existing', { a: 'b' });
    await host.putLink({
      source_id: 'steady',
      target: 'kv',
      name: 'default',
      wit_namespace: 'wasi',
      wit_package: 'keyvalue',
      interfaces: ['store'],
      source_config: [],
      target_config: [],
    });
    initial = snapshot();
  });

  after(async () => {
    await host.stop();
    await lattice.close();
    await dir.remove();
  });

  /** Mirrors the host's routing: what the request must get, judged without sending it. */
  function expectation(tokens: readonly string[], bytes: Uint8Array): Expect {
    const subject = [P, ...tokens].join('.');
    const served = controlSubscriptions(P, host.id).some((s) => subjectMatches(s.subject, subject));
    if (!served) return 'no-responders';
    const [noun, verb, arg, ...extra] = tokens;
    const route = ROUTES.find(
      ([n, v, kind]) => n === noun && v === verb && (kind === 'none' ? arg === undefined : arg !== undefined),
    );
    if (route === undefined || extra.length > 0) return 'reply';
    const ctx = { hostId: host.id, maxInstances: MAX_INSTANCES };
    const valid = (parse: () => unknown): boolean => parsed(parse) !== undefined;
    switch (`${noun}.${verb}`) {
      case 'host.stop':
        return valid(() => parseStopHost(bytes, ctx)) ? 'skip' : 'reply';
      case 'component.scale':
        return valid(() => parseScaleComponent(bytes, ctx)) ? 'skip' : 'reply';
      case 'component.update':
        return parsed(() => parseUpdateComponent(bytes, ctx))?.component_id === 'steady' ? 'skip' : 'reply';
      case 'provider.start': {
        if (route[2] === 'host') return valid(() => parseStartProvider(bytes, ctx)) ? 'skip' : 'reply';
        const value: unknown = parsed(() => decodeControlBody(bytes));
        const named = typeof value === 'object' && value !== null && 'host_id' in value;
        if (!named || value.host_id !== host.id) return 'silence';
        return valid(() => parseStartProvider(bytes, ctx)) ? 'skip' : 'reply';
      }
      case 'label.put':
        return valid(() => parseLabelPut(bytes)) ? 'skip' : 'reply';
      case 'label.del': {
        const key = parsed(() => parseLabelDelete(bytes))?.key;
        return key !== undefined && Object.hasOwn(host.labels(), key) ? 'skip' : 'reply';
      }
      case 'link.put':
        return valid(() => parsePutLink(bytes)) ? 'skip' : 'reply';
      case 'link.del': {
        const del = parsed(() => parseDeleteLink(bytes));
        return del !== undefined && host.links().some((l) => sameLinkIdentity(l, { ...l, ...del }))
          ? 'skip'
          : 'reply';
      }
      case 'config.put':
        return valid(() => parseConfigPut(arg, bytes)) ? 'skip' : 'reply';
      case 'config.del':
        return arg === 'existing' ? 'skip' : 'reply';
      case 'component.auction':
        return valid(() => parseComponentAuction(bytes)) ? 'reply-or-silence' : 'reply';
      case 'provider.auction':
        return valid(() => parseProviderAuction(bytes)) ? 'reply-or-silence' : 'reply';
      default:
        return 'reply';
    }
  }

  it('answers random subjects and bodies within the deadline, or stays silent where 1.x does, and keeps its state', async () => {
    await fuzzAsync(
      fc.asyncProperty(subjectTokens, body, async (rawTokens, rawBody) => {
        const tokens = rawTokens.map((t) => (t === SELF ? host.id : t));
        const text = parsed(() => utf8.decode(rawBody));
        const bodyBytes = text === undefined ? rawBody : encoder.encode(text.replaceAll(SELF, host.id));
        const subject = [P, ...tokens].join('.');
        const expect = expectation(tokens, bodyBytes);
        fc.pre(expect !== 'skip');
        const began = performance.now();
        if (expect === 'reply' || expect === 'no-responders') {
          try {
            const msg = await client.request(subject, bodyBytes, { timeoutMs: ANSWER_MS });
            assert.equal(expect, 'reply', `${subject} was answered but nobody should listen`);
            assertWellFormed(msg.json(), subject);
          } catch (err) {
            if (!(err instanceof NoRespondersError) || expect !== 'no-responders') throw err;
          }
          assert.ok(performance.now() - began < ANSWER_MS, `${subject} answered within ${ANSWER_MS} ms`);
        } else {
          const replies: unknown[] = [];
          for await (const msg of client.requestMany(subject, bodyBytes, {
            maxWaitMs: expect === 'silence' ? SILENCE_MS : AUCTION_MS,
            maxMessages: 1,
          })) {
            replies.push(msg.json());
          }
          if (expect === 'silence') assert.deepEqual(replies, [], `${subject} must stay silent`);
          for (const reply of replies) assertWellFormed(reply, subject);
        }
        assert.deepEqual(problems, [], 'the control server logged no failures');
      }),
      200,
    );

    const ping = await client.request(`${P}.host.ping`, undefined, { timeoutMs: ANSWER_MS });
    assert.equal(ping.json<CtlResponse<unknown>>().success, true);
    assert.deepEqual(snapshot(), initial);
    assert.deepEqual(await host.getConfig('existing'), { a: 'b' });
    assert.equal(await host.getConfig('fuzz-cfg'), undefined);
    assert.deepEqual(problems, []);
  });
});
