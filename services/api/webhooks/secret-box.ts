import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/**
 * Seals webhook signing secrets before they are stored: the subscriptions table is readable by
 * everyone with SQL access to the database (analysts included, on the embedded store), and a
 * secret read there would let its reader forge signed deliveries. AES-256-GCM with a key from
 * API_SECRETS_KEY; each value has its own random IV, and the tag makes a tampered value fail.
 */
export class SecretBox {
  private readonly key: Buffer;

  constructor(key: Uint8Array) {
    if (key.length !== 32) throw new Error('the secrets key must be 32 bytes');
    this.key = Buffer.from(key);
  }

  /** `v1:<iv>:<ciphertext+tag>`, base64url. */
  seal(plain: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const ct = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return `v1:${iv.toString('base64url')}:${ct.toString('base64url')}`;
  }

  /** The secret; throws when the value was sealed with another key or changed. */
  open(sealed: string): string {
    const [v, ivText, ctText] = sealed.split(':');
    if (v !== 'v1' || ivText === undefined || ctText === undefined)
      throw new Error('not a sealed secret (expected v1:<iv>:<ciphertext>)');
    const iv = Buffer.from(ivText, 'base64url');
    const all = Buffer.from(ctText, 'base64url');
    if (iv.length !== 12 || all.length < 16) throw new Error('a sealed secret of the wrong length');
    const decipher = createDecipheriv('aes-256-gcm', this.key, iv);
    decipher.setAuthTag(all.subarray(all.length - 16));
    try {
      return Buffer.concat([decipher.update(all.subarray(0, all.length - 16)), decipher.final()]).toString(
        'utf8',
      );
    } catch (err) {
      throw new Error('a sealed secret that this API_SECRETS_KEY cannot open (another key, or altered)', {
        cause: err,
      });
    }
  }
}

/** API_SECRETS_KEY: 32 bytes, base64 (standard or url-safe). */
export function parseSecretsKey(raw: string): Uint8Array {
  const bytes = Buffer.from(raw.trim(), /[-_]/.test(raw) ? 'base64url' : 'base64');
  if (bytes.length !== 32)
    throw new Error(`32 bytes in base64 (got ${bytes.length}); e.g. openssl rand -base64 32`);
  return bytes;
}
