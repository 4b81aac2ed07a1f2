import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * `X-Pospulse-Signature: t=<unix ms>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`. The time is
 * inside the MAC so a receiver can refuse replays older than it tolerates.
 */
export function signatureHeader(secret: string, body: string, timeMs: number): string {
  const mac = createHmac('sha256', secret).update(`${timeMs}.${body}`).digest('hex');
  return `t=${timeMs},v1=${mac}`;
}

/**
 * What a receiver does (docs/API.md has the same as a snippet): the header's MAC over its time and
 * the raw body, compared in constant time, and the time within `toleranceMs` of `now`.
 */
export function verifySignature(
  secret: string,
  body: string,
  header: string,
  now: number,
  toleranceMs = 300_000,
): boolean {
  const parts = new Map(
    header.split(',').map((p) => {
      const i = p.indexOf('=');
      return [p.slice(0, i).trim(), p.slice(i + 1).trim()] as const;
    }),
  );
  const t = Number(parts.get('t'));
  const v1 = parts.get('v1') ?? '';
  if (!Number.isSafeInteger(t) || Math.abs(now - t) > toleranceMs || !/^[0-9a-f]{64}$/.test(v1)) return false;
  const expected = createHmac('sha256', secret).update(`${t}.${body}`).digest();
  return timingSafeEqual(expected, Buffer.from(v1, 'hex'));
}
