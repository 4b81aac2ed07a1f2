import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { TerminalInfo } from '../gateway/terminal-registry.ts';
import type { Fleet } from './fleet.ts';

/**
 * The gateway's terminal registry (GATEWAY_TERMINALS_FILE, docs/ISO8583.md) for a simulated fleet:
 * what ISO 8583 does not carry (region, coordinates, merchant name, acquirer) for each terminal, so
 * events that arrive over the ISO port match those sent over HTTP.
 */
export function terminalRegistry(fleet: Fleet): { terminals: Record<string, TerminalInfo> } {
  const terminals: Record<string, TerminalInfo> = {};
  for (const t of fleet.terminals) {
    const m = t.merchant;
    terminals[t.serial] = {
      merchant_id: m.id,
      merchant_name: m.name,
      mcc: m.mcc,
      acquirer_id: m.acquirer.id,
      region: m.region.id,
      latitude: t.latitude,
      longitude: t.longitude,
      currency: m.region.currency,
    };
  }
  return { terminals };
}

export function writeTerminalRegistry(path: string, fleet: Fleet): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(terminalRegistry(fleet), null, 2)}\n`);
}
