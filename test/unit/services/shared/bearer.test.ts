import { describe, expect, it } from 'vitest';
import { bearerToken, sameSecret } from '../../../../services/shared/bearer.ts';

describe('bearer tokens', () => {
  it('reads the token of a Bearer header, whatever the case of the scheme', () => {
    expect(bearerToken('Bearer abc')).toBe('abc');
    expect(bearerToken('bearer   abc  ')).toBe('abc');
    expect(bearerToken('Basic abc')).toBeUndefined();
    expect(bearerToken('Bearer a b')).toBeUndefined();
    expect(bearerToken(`Bearer ${'x'.repeat(513)}`)).toBeUndefined();
    expect(bearerToken(undefined)).toBeUndefined();
  });

  it('compares secrets of any length', () => {
    expect(sameSecret('s3cret', 's3cret')).toBe(true);
    expect(sameSecret('s3cret', 's3cret!')).toBe(false);
    expect(sameSecret('', 'x')).toBe(false);
  });
});
