import { createHmac, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  cardReference,
  findPans,
  luhnValid,
  panProblem,
  parseTokenKeys,
} from '../../../../services/gateway/card-data.ts';

const K1 = randomBytes(32).toString('base64');
const K0 = randomBytes(48).toString('base64');

describe('card data', () => {
  const keys = parseTokenKeys(`k1:${K1},k0:${K0}`);

  it('tokenizes with the current key and keeps only BIN and last four', () => {
    const ref = cardReference('4111111111111111', keys);
    expect(ref).toEqual({
      card_token: createHmac('sha256', Buffer.from(K1, 'base64')).update('4111111111111111').digest('hex'),
      card_token_key_id: 'k1',
      card_bin: '41111111',
      card_last4: '1111',
    });
    expect(cardReference('371449635398431', keys).card_bin).toBe('371449');
    expect(JSON.stringify(ref)).not.toContain('4111111111111111');
  });

  it('gives one card one token and different cards different tokens', () => {
    expect(cardReference('4111111111111111', keys).card_token).toBe(
      cardReference('4111111111111111', keys).card_token,
    );
    expect(cardReference('4111111111111111', keys).card_token).not.toBe(
      cardReference('5555555555554444', keys).card_token,
    );
    const rotated = parseTokenKeys(`k0:${K0}`);
    expect(cardReference('4111111111111111', rotated).card_token).not.toBe(
      cardReference('4111111111111111', keys).card_token,
    );
  });

  it('checks PANs: digits, 12 to 19 long, Luhn', () => {
    expect(panProblem('4111111111111111')).toBeUndefined();
    expect(panProblem('4111111111111112')).toBe('luhn');
    expect(panProblem('4111-1111')).toBe('not_digits');
    expect(panProblem('41111111111')).toBe('length');
    fc.assert(
      fc.property(fc.stringMatching(/^\d{11,18}$/), (body) => {
        const check = [...'0123456789'].find((d) => luhnValid(body + d))!;
        return panProblem(body + check) === undefined && luhnValid(body + check);
      }),
    );
  });

  it('finds PANs hidden in text, spaced or dashed, and ignores other numbers', () => {
    expect(findPans('card 4111 1111 1111 1111 and 5555-5555-5555-4444, order 1234567890123')).toEqual([
      '4111111111111111',
      '5555555555554444',
    ]);
    expect(findPans('{"amount_minor":123456789012345}')).toEqual([]);
  });

  it.each([
    ['', 'at least one key'],
    ['nokey', 'needs an id'],
    ['k1:short', 'at least 32 are needed'],
    [`k1:${K1},k1:${K0}`, 'appears twice'],
    ['k1:not*base64', 'not base64'],
  ])('refuses the key ring %j', (raw, message) => {
    expect(() => parseTokenKeys(raw)).toThrow(message);
  });
});
