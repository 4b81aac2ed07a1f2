import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseSecretsKey, SecretBox } from '../../../../../services/api/webhooks/secret-box.ts';

describe('SecretBox', () => {
  const box = new SecretBox(randomBytes(32));

  it('seals a secret so it cannot be read, and opens it again', () => {
    const sealed = box.seal('whsec-0123456789abcdef');
    expect(sealed).toMatch(/^v1:[\w-]{16}:[\w-]+$/);
    expect(sealed).not.toContain('whsec');
    expect(box.open(sealed)).toBe('whsec-0123456789abcdef');
    // A fresh IV each time.
    expect(box.seal('whsec-0123456789abcdef')).not.toBe(sealed);
  });

  it('refuses a value sealed with another key, an altered one, and a plain one', () => {
    const sealed = box.seal('whsec-0123456789abcdef');
    expect(() => new SecretBox(randomBytes(32)).open(sealed)).toThrow(/API_SECRETS_KEY cannot open/);
    const [v, iv, ct] = sealed.split(':') as [string, string, string];
    const flipped = Buffer.from(ct, 'base64url');
    flipped[0] = flipped[0]! ^ 1;
    expect(() => box.open(`${v}:${iv}:${flipped.toString('base64url')}`)).toThrow(/cannot open/);
    expect(() => box.open('whsec-0123456789abcdef')).toThrow(/not a sealed secret/);
  });

  it('takes a 32-byte key in base64 or base64url, and names what is wrong otherwise', () => {
    const key = randomBytes(32);
    expect(Buffer.from(parseSecretsKey(key.toString('base64')))).toEqual(key);
    expect(Buffer.from(parseSecretsKey(key.toString('base64url')))).toEqual(key);
    expect(() => parseSecretsKey(randomBytes(16).toString('base64'))).toThrow(
      /32 bytes in base64 \(got 16\)/,
    );
    expect(() => new SecretBox(new Uint8Array(8))).toThrow(/32 bytes/);
  });
});
