import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  loadTerminalRegistry,
  PROFILE_FALLBACK,
  TerminalRegistry,
} from '../../../../services/gateway/terminal-registry.ts';
import { ConfigError } from '../../../../services/shared/errors.ts';

const CAFE = {
  merchant_id: 'M42',
  merchant_name: 'Cafe du Coin',
  mcc: '5812',
  acquirer_id: 'ACQ1',
  region: 'eu-west',
  latitude: 48.85,
  longitude: 2.35,
  currency: 'EUR',
};

const dir = mkdtempSync(join(tmpdir(), 'pospulse-registry-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('TerminalRegistry', () => {
  it('gives a registered terminal its own entry', () => {
    const registry = TerminalRegistry.fromJson({ terminals: { TERM0001: CAFE } });
    expect(registry.size).toBe(1);
    expect(registry.has('TERM0001')).toBe(true);
    expect(registry.profile('TERM0001')).toEqual({
      known: true,
      ...CAFE,
      registeredMerchantId: 'M42',
    });
  });

  it('fills what an entry leaves out from the default', () => {
    const { latitude: _lat, longitude: _lon, currency: _cur, ...bare } = CAFE;
    const registry = TerminalRegistry.fromJson({
      default: { currency: 'CHF', latitude: 46.2, longitude: 6.1, region: 'ch' },
      terminals: { T1: bare },
    });
    expect(registry.profile('T1')).toMatchObject({
      region: 'eu-west',
      currency: 'CHF',
      latitude: 46.2,
      longitude: 6.1,
    });
  });

  it('gives an unregistered terminal the default, then the fallbacks, and no currency', () => {
    const registry = TerminalRegistry.fromJson({ default: { region: 'eu-west' }, terminals: {} });
    expect(registry.profile('NOBODY')).toEqual({
      known: false,
      ...PROFILE_FALLBACK,
      region: 'eu-west',
      latitude: null,
      longitude: null,
      currency: undefined,
      registeredMerchantId: null,
    });
    expect(TerminalRegistry.EMPTY.profile('X')).toMatchObject({
      known: false,
      merchant_id: 'unknown',
      mcc: '0000',
      currency: undefined,
    });
  });

  it.each([
    [{ terminals: { T1: { ...CAFE, mcc: '58' } } }, 'terminals["T1"].mcc: expected 4 digits'],
    [
      { terminals: { T1: { ...CAFE, merchant_id: '' } } },
      'terminals["T1"].merchant_id: expected a non-empty',
    ],
    [{ terminals: { T1: { ...CAFE, region: undefined } } }, 'terminals["T1"].region: missing'],
    [{ terminals: { T1: { ...CAFE, currency: 'eur' } } }, 'terminals["T1"].currency: expected an ISO 4217'],
    [{ terminals: { T1: { ...CAFE, latitude: 91 } } }, 'terminals["T1"].latitude: expected a number'],
    [{ terminals: { T1: { ...CAFE, longitude: '2.35' } } }, 'terminals["T1"].longitude: expected a number'],
    [{ terminals: { T1: { ...CAFE, longitude: undefined } } }, 'terminals["T1"]: latitude and longitude'],
    [{ terminals: { T1: { ...CAFE, mmc: '5812' } } }, 'terminals["T1"].mmc: unknown field'],
    [{ terminals: { T1: 'cafe' } }, 'terminals["T1"]: expected an object'],
    [{ terminals: { ' T1': CAFE } }, 'terminals[" T1"]: a terminal id without surrounding spaces'],
    [{ default: { mcc: 5812 } }, 'default.mcc: expected 4 digits'],
    [{ terminals: [] }, 'terminals: expected an object'],
    [{ terminal: {} }, 'terminal: unknown top-level field'],
    [[], 'expected an object'],
  ])('refuses %j naming the terminal and field', (doc, message) => {
    expect(() => TerminalRegistry.fromJson(doc)).toThrow(message);
  });
});

describe('loadTerminalRegistry', () => {
  it('reads a registry file', () => {
    const file = join(dir, 'terminals.json');
    writeFileSync(file, JSON.stringify({ default: { currency: 'EUR' }, terminals: { TERM0001: CAFE } }));
    expect(loadTerminalRegistry(file).profile('TERM0001').merchant_id).toBe('M42');
  });

  it('gives the empty registry when no file is configured', () => {
    expect(loadTerminalRegistry(undefined)).toBe(TerminalRegistry.EMPTY);
  });

  it('reports a missing file, bad JSON and a bad entry as a ConfigError naming the variable', () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{ "terminals": ');
    const invalid = join(dir, 'invalid.json');
    writeFileSync(invalid, JSON.stringify({ terminals: { T9: { ...CAFE, mcc: 'x' } } }));
    for (const [file, text] of [
      [join(dir, 'absent.json'), 'readable'],
      [bad, 'valid terminal registry'],
      [invalid, 'terminals["T9"].mcc'],
    ] as const) {
      let error: unknown;
      try {
        loadTerminalRegistry(file);
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).variable).toBe('GATEWAY_TERMINALS_FILE');
      expect((error as ConfigError).message).toContain(text);
    }
  });
});
