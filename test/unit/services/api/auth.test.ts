import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { Authenticator, covers, parseApiKeys, sha256Hex } from '../../../../services/api/auth.ts';

const SECRET = new TextEncoder().encode('a-test-secret-of-at-least-32-bytes!!');
const JWT = { secret: SECRET, issuer: 'pospulse', audience: 'pospulse-api' };
const keys = parseApiKeys(
  JSON.stringify([
    { id: 'wall', key_sha256: sha256Hex('viewer-key-0123456789abcdef'), role: 'viewer' },
    { id: 'ops', key_sha256: sha256Hex('admin-key-0123456789abcdef'), role: 'admin' },
  ]),
);
const auth = new Authenticator(keys, JWT);

async function token(
  claims: Record<string, unknown>,
  opts: { exp?: string; iss?: string; aud?: string; alg?: string } = {},
) {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: opts.alg ?? 'HS256' })
    .setSubject('alice')
    .setIssuer(opts.iss ?? 'pospulse')
    .setAudience(opts.aud ?? 'pospulse-api')
    .setIssuedAt()
    .setExpirationTime(opts.exp ?? '5m')
    .sign(SECRET);
}

describe('Authenticator', () => {
  it('knows an API key by its hash and a JWT by its signature, issuer, audience and role', async () => {
    expect(await auth.authenticate('Bearer viewer-key-0123456789abcdef')).toEqual({
      ok: true,
      principal: { subject: 'wall', role: 'viewer', via: 'api_key' },
    });
    expect(await auth.authenticate(`Bearer ${await token({ role: 'analyst' })}`)).toEqual({
      ok: true,
      principal: { subject: 'alice', role: 'analyst', via: 'jwt' },
    });
  });

  it('refuses missing, unknown, expired, foreign and role-less credentials, saying which', async () => {
    expect(await auth.authenticate(undefined)).toMatchObject({ ok: false, code: 'missing_credentials' });
    expect(await auth.authenticate('Basic abc')).toMatchObject({ ok: false, code: 'missing_credentials' });
    expect(await auth.authenticate('Bearer guessed-key')).toMatchObject({
      ok: false,
      code: 'invalid_credentials',
      message: 'unknown API key',
    });
    const cases: [Promise<string>, RegExp][] = [
      [token({ role: 'admin' }, { exp: '-1m' }), /expired/],
      [token({ role: 'admin' }, { iss: 'someone-else' }), /invalid token/],
      [token({ role: 'admin' }, { aud: 'another-api' }), /invalid token/],
      [token({}), /role claim/],
      [token({ role: 'root' }), /role claim/],
    ];
    for (const [t, message] of cases) {
      expect(await auth.authenticate(`Bearer ${await t}`)).toMatchObject({
        ok: false,
        code: 'invalid_credentials',
        message: expect.stringMatching(message),
      });
    }
    // A token signed with another secret.
    const forged = await new SignJWT({ role: 'admin' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('mallory')
      .setIssuer('pospulse')
      .setAudience('pospulse-api')
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode('another-secret-of-at-least-32-bytes!!'));
    expect(await auth.authenticate(`Bearer ${forged}`)).toMatchObject({
      ok: false,
      code: 'invalid_credentials',
    });
    // Without a JWT secret, no JWT is accepted.
    expect(
      await new Authenticator(keys, undefined).authenticate(`Bearer ${await token({ role: 'admin' })}`),
    ).toMatchObject({
      ok: false,
      message: expect.stringMatching(/API_JWT_SECRET/),
    });
  });

  it('orders the roles viewer < analyst < admin', () => {
    expect([covers('admin', 'viewer'), covers('analyst', 'analyst'), covers('viewer', 'analyst')]).toEqual([
      true,
      true,
      false,
    ]);
  });

  it('refuses a bad key file naming the entry and field', () => {
    expect(() => parseApiKeys('[]')).toThrow(/non-empty/);
    expect(() => parseApiKeys('[{"id":"a","key_sha256":"xyz","role":"viewer"}]')).toThrow(
      /key a: "key_sha256"/,
    );
    expect(() => parseApiKeys(`[{"id":"a","key_sha256":"${sha256Hex('k')}","role":"boss"}]`)).toThrow(
      /key a: "role"/,
    );
    expect(() => parseApiKeys(`[{"id":"a","key_sha256":"${sha256Hex('k')}","role":"viewer","x":1}]`)).toThrow(
      /unknown field "x"/,
    );
  });
});
