import { describe, expect, it } from 'vitest';
import {
  authenticateKey,
  canIngest,
  generateKey,
  hashKey,
  inScope,
  parseApiKeys,
  presentedKey,
} from '../../../../services/gateway/api-keys.ts';

const a = generateKey('acme');
const b = generateKey('ops');

function ring() {
  return parseApiKeys(
    JSON.stringify([
      { id: 'acme', key_sha256: a.sha256, merchants: ['M1', 'M2'], terminals: ['T-9'] },
      { id: 'ops', key_sha256: b.sha256, metrics: true, rate_per_second: 50 },
    ]),
  );
}

describe('API keys', () => {
  it('finds a key by its secret and never by its hash or a near miss', () => {
    const keys = ring();
    expect(authenticateKey(keys, a.secret)?.id).toBe('acme');
    expect(authenticateKey(keys, b.secret)?.id).toBe('ops');
    expect(authenticateKey(keys, a.sha256)).toBeUndefined();
    expect(authenticateKey(keys, `${a.secret}x`)).toBeUndefined();
    expect(authenticateKey(keys, undefined)).toBeUndefined();
  });

  it('stores only the hash of a generated key', () => {
    expect(a.sha256).toBe(hashKey(a.secret));
    expect(a.secret).toMatch(/^pp_acme_[A-Za-z0-9_-]{32}$/);
    expect(JSON.stringify([...ring().byHash.values()].map((k) => [...k.merchants]))).not.toContain(a.secret);
  });

  it('reads Bearer and X-API-Key headers', () => {
    expect(presentedKey({ authorization: `Bearer ${a.secret}` })).toBe(a.secret);
    expect(presentedKey({ authorization: `bearer   ${a.secret} ` })).toBe(a.secret);
    expect(presentedKey({ 'x-api-key': a.secret })).toBe(a.secret);
    expect(presentedKey({ authorization: `Basic ${a.secret}` })).toBeUndefined();
    expect(presentedKey({})).toBeUndefined();
    expect(presentedKey({ 'x-api-key': 'k'.repeat(600) })).toBeUndefined();
  });

  it('scopes a key to its merchants and terminals', () => {
    const acme = authenticateKey(ring(), a.secret)!;
    expect(inScope(acme, 'M1', 'T-1')).toBe(true);
    expect(inScope(acme, 'M3', 'T-1')).toBe(false);
    expect(inScope(acme, 'M3', 'T-9')).toBe(true);
    expect(inScope(acme, null, 'T-1')).toBe(false);
    expect(canIngest(acme)).toBe(true);
    const ops = authenticateKey(ring(), b.secret)!;
    expect(canIngest(ops)).toBe(false);
    expect(ops.metrics).toBe(true);
    expect(ops.ratePerSecond).toBe(50);
  });

  it('lets "*" stand for every merchant', () => {
    const keys = parseApiKeys(JSON.stringify([{ id: 'all', key_sha256: a.sha256, merchants: ['*'] }]));
    const all = authenticateKey(keys, a.secret)!;
    expect(inScope(all, 'anything', 'T')).toBe(true);
    expect(inScope(all, null, 'T')).toBe(true);
  });

  it.each([
    ['not json', /not valid JSON/],
    ['[]', /non-empty JSON array/],
    ['[1]', /key 1 must be an object/],
    [JSON.stringify([{ id: 'x y', key_sha256: 'a'.repeat(64), merchants: ['M'] }]), /"id"/],
    [JSON.stringify([{ id: 'x', key_sha256: 'abc', merchants: ['M'] }]), /key x: "key_sha256"/],
    [JSON.stringify([{ id: 'x', key_sha256: 'a'.repeat(64) }]), /key x has no scope/],
    [
      JSON.stringify([{ id: 'x', key_sha256: 'a'.repeat(64), merchants: 'M' }]),
      /"merchants" must be an array/,
    ],
    [
      JSON.stringify([{ id: 'x', key_sha256: 'a'.repeat(64), merchants: ['M'], key: 'plain' }]),
      /unknown field "key"/,
    ],
    [
      JSON.stringify([{ id: 'x', key_sha256: 'a'.repeat(64), metrics: true, rate_per_second: 0 }]),
      /rate_per_second/,
    ],
    [
      JSON.stringify([
        { id: 'x', key_sha256: 'a'.repeat(64), metrics: true },
        { id: 'x', key_sha256: 'b'.repeat(64), metrics: true },
      ]),
      /appears twice/,
    ],
    [
      JSON.stringify([
        { id: 'x', key_sha256: 'a'.repeat(64), metrics: true },
        { id: 'y', key_sha256: 'a'.repeat(64), metrics: true },
      ]),
      /configured twice/,
    ],
  ])('refuses a bad key file: %s', (raw, message) => {
    expect(() => parseApiKeys(raw)).toThrow(message);
  });
});
