/**
 * Runs the example policy service until SIGINT/SIGTERM:
 *
 *   node examples/policy-service/src/main.ts --nats nats://127.0.0.1:4222 --topic wasmcloud.policy \
 *     --allow-issuer ACCOUNT_PUBLIC_KEY [--allow-issuer …] [--allow-unsigned]
 *
 * Each flag can come from the environment instead: NATS_URL, POLICY_TOPIC, ALLOWED_ISSUERS
 * (comma-separated) and ALLOW_UNSIGNED=true.
 */
import { parseArgs } from 'node:util';
import { startPolicyService } from './service.ts';

const { values } = parseArgs({
  options: {
    nats: { type: 'string' },
    topic: { type: 'string' },
    'allow-issuer': { type: 'string', multiple: true },
    'allow-unsigned': { type: 'boolean' },
  },
});
const env = process.env;
const allowedIssuers =
  values['allow-issuer'] ?? (env['ALLOWED_ISSUERS'] ?? '').split(',').filter((issuer) => issuer !== '');
const topic = values.topic ?? env['POLICY_TOPIC'];
if (topic === undefined || topic === '') {
  process.stderr.write('policy-service: give the subject hosts ask on with --topic (their --policy-topic)\n');
  process.exit(2);
}

const service = await startPolicyService({
  servers: values.nats ?? env['NATS_URL'] ?? 'nats://127.0.0.1:4222',
  topic,
  allowedIssuers,
  allowUnsigned: values['allow-unsigned'] ?? env['ALLOW_UNSIGNED'] === 'true',
  log: (line) => process.stderr.write(`${line}\n`),
});
process.stderr.write(
  `policy-service: answering on ${topic}; allowed issuers: ${allowedIssuers.join(', ') || 'none'}\n`,
);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void service.stop());
}
