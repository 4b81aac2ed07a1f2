import { parseArgs } from 'node:util';
import { generateKey } from '../services/gateway/api-keys.ts';

// Prints a new API key once (for its owner) and the entry for GATEWAY_API_KEYS / the key file,
// which holds only the key's SHA-256.
const { values } = parseArgs({
  options: {
    id: { type: 'string' },
    merchants: { type: 'string' },
    terminals: { type: 'string' },
    metrics: { type: 'boolean', default: false },
    rate: { type: 'string' },
  },
});
const list = (v: string | undefined) =>
  v === undefined
    ? undefined
    : v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);

if (!values.id || !/^[A-Za-z0-9._-]{1,64}$/.test(values.id)) {
  process.stderr.write(
    'usage: npm run gateway:keygen -- --id <id> [--merchants M1,M2|*] [--terminals T1,T2] [--metrics] [--rate <events/s>]\n',
  );
  process.exit(2);
}
const { secret, sha256 } = generateKey(values.id);
const entry = {
  id: values.id,
  key_sha256: sha256,
  ...(values.merchants ? { merchants: list(values.merchants) } : {}),
  ...(values.terminals ? { terminals: list(values.terminals) } : {}),
  ...(values.metrics ? { metrics: true } : {}),
  ...(values.rate ? { rate_per_second: Number(values.rate) } : {}),
};
process.stdout.write(`key (give to the client, shown once): ${secret}\n`);
process.stdout.write(`entry for the key file:\n${JSON.stringify(entry)}\n`);
