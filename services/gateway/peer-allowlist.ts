import { BlockList, isIP } from 'node:net';

/** Which peers may open a connection: a set of addresses and CIDR blocks, IPv4 and IPv6. */
export interface PeerAllowList {
  /** The entries as given, for logs and the README default. */
  readonly entries: readonly string[];
  /** True when `address` (as in `socket.remoteAddress`) is on the list; false for undefined. */
  allows(address: string | undefined): boolean;
}

function familyOf(ip: string): 'ipv4' | 'ipv6' | undefined {
  const v = isIP(ip);
  return v === 4 ? 'ipv4' : v === 6 ? 'ipv6' : undefined;
}

/** A zone id (`fe80::1%eth0`) names the interface, not the host; BlockList matches nothing with one. */
function withoutZone(address: string): string {
  const at = address.indexOf('%');
  return at < 0 ? address : address.slice(0, at);
}

/**
 * Parses a comma-separated list of IPs and CIDRs (`127.0.0.1,10.0.0.0/8,::1,fd00::/8`). Throws an
 * Error naming the first bad entry. Matching is node's `net.BlockList`, which treats an
 * IPv4-mapped IPv6 peer (`::ffff:127.0.0.1`, what a dual-stack socket reports) as its IPv4 address.
 */
export function parsePeerAllowList(raw: string): PeerAllowList {
  const entries = raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (entries.length === 0) throw new Error('the allow-list is empty: no peer could connect');
  const list = new BlockList();
  for (const entry of entries) {
    const slash = entry.indexOf('/');
    const ip = slash < 0 ? entry : entry.slice(0, slash);
    const family = familyOf(ip);
    if (family === undefined || ip.includes('%')) {
      throw new Error(`allow-list entry "${entry}" is not an IP address or CIDR block`);
    }
    if (slash < 0) {
      list.addAddress(ip, family);
      continue;
    }
    const prefixText = entry.slice(slash + 1);
    const maxPrefix = family === 'ipv4' ? 32 : 128;
    const prefix = /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
    if (!(prefix >= 0 && prefix <= maxPrefix)) {
      throw new Error(`allow-list entry "${entry}" has a prefix length outside 0-${maxPrefix}`);
    }
    list.addSubnet(ip, prefix, family);
  }
  return Object.freeze({
    entries: Object.freeze(entries),
    allows(address: string | undefined): boolean {
      if (address === undefined) return false;
      const ip = withoutZone(address);
      const family = familyOf(ip);
      return family !== undefined && list.check(ip, family);
    },
  });
}
