import { describe, expect, it } from 'vitest';
import { parsePeerAllowList } from '../../../../services/gateway/peer-allowlist.ts';

describe('parsePeerAllowList', () => {
  it('allows exactly the listed IPv4 and IPv6 addresses', () => {
    const list = parsePeerAllowList('127.0.0.1, ::1');
    expect(list.entries).toEqual(['127.0.0.1', '::1']);
    expect(list.allows('127.0.0.1')).toBe(true);
    expect(list.allows('::1')).toBe(true);
    expect(list.allows('0:0:0:0:0:0:0:1')).toBe(true);
    expect(list.allows('127.0.0.2')).toBe(false);
    expect(list.allows('::2')).toBe(false);
  });

  it('allows addresses inside the listed CIDR blocks', () => {
    const list = parsePeerAllowList('10.0.0.0/8,192.168.1.0/24,fd00::/8');
    expect(list.allows('10.255.3.4')).toBe(true);
    expect(list.allows('11.0.0.1')).toBe(false);
    expect(list.allows('192.168.1.77')).toBe(true);
    expect(list.allows('192.168.2.1')).toBe(false);
    expect(list.allows('fd12:3456::1')).toBe(true);
    expect(list.allows('fe80::1')).toBe(false);
  });

  it('matches an IPv4-mapped IPv6 peer against its IPv4 entry', () => {
    const list = parsePeerAllowList('127.0.0.1,10.0.0.0/8');
    expect(list.allows('::ffff:127.0.0.1')).toBe(true);
    expect(list.allows('::FFFF:10.1.2.3')).toBe(true);
    expect(list.allows('::ffff:192.168.0.1')).toBe(false);
  });

  it('matches a link-local peer whatever its zone id', () => {
    expect(parsePeerAllowList('fe80::/10').allows('fe80::1%eth0')).toBe(true);
  });

  it('allows every peer with 0.0.0.0/0 and ::/0', () => {
    const list = parsePeerAllowList('0.0.0.0/0,::/0');
    expect(list.allows('203.0.113.9')).toBe(true);
    expect(list.allows('2001:db8::1')).toBe(true);
  });

  it('refuses an unknown address (a socket already gone)', () => {
    expect(parsePeerAllowList('0.0.0.0/0').allows(undefined)).toBe(false);
    expect(parsePeerAllowList('0.0.0.0/0').allows('not-an-ip')).toBe(false);
  });

  it.each([
    ['localhost', 'localhost'],
    ['127.0.0.1,10.0.0.0/33', '10.0.0.0/33'],
    ['::/129', '::/129'],
    ['10.0.0.0/', '10.0.0.0/'],
    ['10.0.0.0/8x', '10.0.0.0/8x'],
    ['256.0.0.1', '256.0.0.1'],
    ['fe80::1%eth0', 'fe80::1%eth0'],
  ])('refuses %s naming the bad entry', (raw, bad) => {
    expect(() => parsePeerAllowList(raw)).toThrow(`"${bad}"`);
  });

  it('refuses an empty list', () => {
    expect(() => parsePeerAllowList(' , ')).toThrow(/empty/);
  });
});
