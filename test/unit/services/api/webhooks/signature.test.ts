import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { signatureHeader, verifySignature } from '../../../../../services/api/webhooks/signature.ts';

describe('webhook signatures', () => {
  it('is t=<ms>,v1=<hex HMAC-SHA256 of "<t>.<body>">, as a receiver recomputes it', () => {
    const header = signatureHeader('s3cret-s3cret-s3cret', '{"a":1}', 1_700_000_000_123);
    const mac = createHmac('sha256', 's3cret-s3cret-s3cret').update('1700000000123.{"a":1}').digest('hex');
    expect(header).toBe(`t=1700000000123,v1=${mac}`);
  });

  it('verifies its own signature and nothing that was changed', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 16, maxLength: 64 }),
        fc.string({ maxLength: 200 }),
        fc.string({ minLength: 1, maxLength: 5 }),
        (secret, body, extra) => {
          const t = 1_700_000_000_000;
          const header = signatureHeader(secret, body, t);
          expect(verifySignature(secret, body, header, t + 1_000)).toBe(true);
          expect(verifySignature(secret, body + extra, header, t)).toBe(false);
          expect(verifySignature(secret + extra, body, header, t)).toBe(false);
          // Another time in the header breaks the MAC.
          expect(verifySignature(secret, body, header.replace(`t=${t}`, `t=${t + 1}`), t)).toBe(false);
        },
      ),
    );
  });

  it('refuses a signature older than the tolerance (a replay) and malformed headers', () => {
    const t = 1_700_000_000_000;
    const header = signatureHeader('s3cret-s3cret-s3cret', 'x', t);
    expect(verifySignature('s3cret-s3cret-s3cret', 'x', header, t + 300_001)).toBe(false);
    expect(verifySignature('s3cret-s3cret-s3cret', 'x', 'v1=abc', t)).toBe(false);
    expect(verifySignature('s3cret-s3cret-s3cret', 'x', `t=${t},v1=zz`, t)).toBe(false);
  });
});
