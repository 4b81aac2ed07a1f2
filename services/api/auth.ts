import { createHash } from 'node:crypto';
import { errors as joseErrors, jwtVerify } from 'jose';
import { bearerToken } from '../shared/bearer.ts';
import { parseKeyEntries } from '../shared/hashed-keys.ts';

/** viewer reads KPIs, status and alerts; analyst also gets SQL credentials; admin also manages definitions and subscriptions. */
export const ROLES = ['viewer', 'analyst', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** Whether `has` includes everything `needs` may do. */
export function covers(has: Role, needs: Role): boolean {
  return ROLES.indexOf(has) >= ROLES.indexOf(needs);
}

export interface Principal {
  /** The key's id or the token's `sub`. */
  subject: string;
  role: Role;
  via: 'api_key' | 'jwt';
}

export interface ApiKeyEntry {
  id: string;
  role: Role;
}

/**
 * API_KEYS: a JSON array of `{ "id", "key_sha256", "role" }`. Only the SHA-256 of each key is
 * kept (keys are long random strings, so an unsalted hash suffices); errors name entry and field.
 */
export function parseApiKeys(raw: string): ReadonlyMap<string, ApiKeyEntry> {
  const byHash = new Map<string, ApiKeyEntry>();
  for (const { id, hash, fields } of parseKeyEntries(raw, ['role'])) {
    const role = fields['role'];
    if (typeof role !== 'string' || !(ROLES as readonly string[]).includes(role))
      throw new Error(`key ${id}: "role" must be one of ${ROLES.join(', ')}`);
    byHash.set(hash, { id, role: role as Role });
  }
  return byHash;
}

export function sha256Hex(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export interface JwtSettings {
  /** HS256 shared secret (at least 32 bytes). */
  secret: Uint8Array;
  issuer: string;
  audience: string;
}

export type AuthResult =
  | { ok: true; principal: Principal }
  | { ok: false; code: 'missing_credentials' | 'invalid_credentials'; message: string };

/**
 * Who a request is, from `Authorization: Bearer <API key or JWT>`. A JWT (three dot-separated
 * parts) is verified with jose: HS256 only, the configured issuer and audience, not expired, and a
 * `role` claim; anything else is looked up as an API key by its hash.
 */
export class Authenticator {
  constructor(
    private readonly keys: ReadonlyMap<string, ApiKeyEntry>,
    private readonly jwt: JwtSettings | undefined,
  ) {}

  async authenticate(authorization: string | undefined): Promise<AuthResult> {
    const token = bearerToken(authorization);
    if (token === undefined)
      return {
        ok: false,
        code: 'missing_credentials',
        message: 'an Authorization: Bearer <API key or JWT> header is required',
      };
    if (token.split('.').length === 3) return this.verifyJwt(token);
    const key = this.keys.get(sha256Hex(token));
    if (key === undefined) return { ok: false, code: 'invalid_credentials', message: 'unknown API key' };
    return { ok: true, principal: { subject: key.id, role: key.role, via: 'api_key' } };
  }

  private async verifyJwt(token: string): Promise<AuthResult> {
    if (this.jwt === undefined)
      return {
        ok: false,
        code: 'invalid_credentials',
        message: 'JWTs are not accepted here (no API_JWT_SECRET)',
      };
    try {
      const { payload } = await jwtVerify(token, this.jwt.secret, {
        algorithms: ['HS256'],
        issuer: this.jwt.issuer,
        audience: this.jwt.audience,
        requiredClaims: ['sub', 'exp'],
      });
      const role = payload['role'];
      if (typeof role !== 'string' || !(ROLES as readonly string[]).includes(role))
        return {
          ok: false,
          code: 'invalid_credentials',
          message: `the token's role claim must be one of ${ROLES.join(', ')}`,
        };
      return { ok: true, principal: { subject: payload.sub as string, role: role as Role, via: 'jwt' } };
    } catch (err) {
      const why =
        err instanceof joseErrors.JWTExpired
          ? 'the token has expired'
          : err instanceof joseErrors.JOSEError
            ? `invalid token (${err.code})`
            : 'invalid token';
      return { ok: false, code: 'invalid_credentials', message: why };
    }
  }
}
