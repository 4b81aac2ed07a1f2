import { describe, expect, it } from 'vitest';
import { TerminalRegistry } from '../../../../services/gateway/terminal-registry.ts';
import { buildFleet } from '../../../../services/simulator/fleet.ts';
import { terminalRegistry } from '../../../../services/simulator/registry.ts';

describe('terminal registry for the gateway', () => {
  it('is accepted by the gateway and gives each terminal the fleet’s placement', () => {
    const fleet = buildFleet({ seed: 'reg', terminals: 50, regions: 8 });
    const registry = TerminalRegistry.fromJson(JSON.parse(JSON.stringify(terminalRegistry(fleet))));
    expect(registry.size).toBe(50);
    for (const t of fleet.terminals) {
      expect(registry.profile(t.serial)).toMatchObject({
        known: true,
        merchant_id: t.merchant.id,
        merchant_name: t.merchant.name,
        mcc: t.merchant.mcc,
        acquirer_id: t.merchant.acquirer.id,
        region: t.merchant.region.id,
        latitude: t.latitude,
        longitude: t.longitude,
        currency: t.merchant.region.currency,
      });
    }
  });
});
