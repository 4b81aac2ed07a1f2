import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../../services/shared/errors.ts';
import { parseSimulatorConfig, simulatedWindow } from '../../../../services/simulator/config.ts';

const KEYS = `k1:${Buffer.alloc(32, 1).toString('base64')}`;
const ENV = { SIMULATOR_API_KEY: 'pp_sim_secret' };

function errorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('parseSimulatorConfig', () => {
  it('has defaults for everything but the sink’s credentials', () => {
    const c = parseSimulatorConfig(ENV);
    expect(c).toMatchObject({
      seed: '1',
      terminals: 200,
      regions: 6,
      acquirers: 3,
      rate: 5,
      heartbeatIntervalMs: 60_000,
      durationMs: 600_000,
      speed: 1,
      backfill: false,
      sink: 'http',
      gatewayUrl: 'http://127.0.0.1:8080',
      incidents: 'auto',
      inject: [],
      help: false,
    });
    expect(c.labels).toBeUndefined();
  });

  it('lets flags override the variables', () => {
    const c = parseSimulatorConfig({ ...ENV, SIMULATOR_TERMINALS: '10', SIMULATOR_SEED: 'env' }, [
      '--terminals',
      '500',
      '--rate=12.5',
      '--duration',
      '2h',
      '--backfill',
      '--inject',
      'card_testing',
      '--inject',
      'terminal_outage/5m',
      '--labels',
      'out/labels.jsonl',
      '--incidents',
      'none',
    ]);
    expect(c).toMatchObject({
      seed: 'env',
      terminals: 500,
      rate: 12.5,
      durationMs: 7_200_000,
      backfill: true,
      labels: 'out/labels.jsonl',
      incidents: 'none',
    });
    expect(c.inject).toEqual(['card_testing', 'terminal_outage/5m']);
  });

  it('names the flag and its variable in an error about a flag value, the variable otherwise', () => {
    expect(errorOf(() => parseSimulatorConfig(ENV, ['--terminals', 'many'])).message).toMatch(
      /^--terminals \(SIMULATOR_TERMINALS\)="many" is invalid: expected an integer between 1 and 1000000/,
    );
    expect(errorOf(() => parseSimulatorConfig({ ...ENV, SIMULATOR_SINK: 'ftp' })).message).toMatch(
      /^SIMULATOR_SINK="ftp" is invalid: expected one of http, iso, kafka/,
    );
    expect(errorOf(() => parseSimulatorConfig(ENV, ['--speed', '0'])).variable).toBe(
      '--speed (SIMULATOR_SPEED)',
    );
    expect(errorOf(() => parseSimulatorConfig(ENV, ['--start', '2026-03-03T10:00:00'])).message).toMatch(
      /RFC 3339 time with a zone/,
    );
  });

  it('refuses unknown flags and secrets given as flags', () => {
    expect(errorOf(() => parseSimulatorConfig(ENV, ['--terminalz', '3'])).message).toMatch(/terminalz/);
    const secret = errorOf(() => parseSimulatorConfig(ENV, ['--api-key', 'pp_leak']));
    expect(secret.message).toMatch(/secrets come from the environment only/);
    expect(secret.message).not.toContain('pp_leak');
  });

  it('needs an API key for http and token keys for kafka, taking GATEWAY_TOKEN_KEYS when its own is unset', () => {
    expect(errorOf(() => parseSimulatorConfig({})).variable).toBe('SIMULATOR_API_KEY');
    expect(errorOf(() => parseSimulatorConfig({}, ['--sink', 'kafka'])).variable).toBe(
      'SIMULATOR_TOKEN_KEYS',
    );
    expect(
      parseSimulatorConfig({ GATEWAY_TOKEN_KEYS: KEYS }, ['--sink', 'kafka']).tokenKeys?.current.id,
    ).toBe('k1');
    const own = `own:${Buffer.alloc(32, 2).toString('base64')}`;
    expect(
      parseSimulatorConfig({ GATEWAY_TOKEN_KEYS: KEYS, SIMULATOR_TOKEN_KEYS: own }, ['--sink', 'kafka'])
        .tokenKeys?.current.id,
    ).toBe('own');
    const bad = errorOf(() => parseSimulatorConfig({ ...ENV, SIMULATOR_TOKEN_KEYS: 'k1:short' }));
    expect(bad.message).toMatch(/^SIMULATOR_TOKEN_KEYS="\(hidden\)"/);
  });

  it('refuses combinations that cannot work', () => {
    expect(errorOf(() => parseSimulatorConfig(ENV, ['--sink', 'iso', '--backfill'])).message).toMatch(
      /gateway stamps ISO 8583 events with its own clock/,
    );
    expect(errorOf(() => parseSimulatorConfig(ENV, ['--backfill', '--duration', '0'])).variable).toBe(
      '--duration (SIMULATOR_DURATION)',
    );
    expect(errorOf(() => parseSimulatorConfig(ENV, ['--duration', '0', '--speed', '10'])).message).toMatch(
      /event times would run into the future/,
    );
    expect(
      errorOf(() => parseSimulatorConfig(ENV, ['--terminals', '5', '--merchants', '6'])).message,
    ).toMatch(/at most the number of terminals \(5\)/);
    expect(errorOf(() => parseSimulatorConfig(ENV, ['--batch', '10000'])).message).toMatch(
      /at most 5000 for the http sink/,
    );
  });

  it('needs nothing else to write the registry or show help', () => {
    expect(parseSimulatorConfig({}, ['--write-registry', 'reg.json']).writeRegistry).toBe('reg.json');
    expect(parseSimulatorConfig({}, ['--help']).help).toBe(true);
  });
});

describe('simulatedWindow', () => {
  const now = Date.UTC(2026, 2, 3, 12);
  it('starts now in real time, ends now in a backfill, and ends now when faster than real time', () => {
    expect(simulatedWindow({ durationMs: 60_000, backfill: false, speed: 1, start: undefined }, now)).toEqual(
      { start: now, end: now + 60_000 },
    );
    expect(simulatedWindow({ durationMs: 60_000, backfill: true, speed: 1, start: undefined }, now)).toEqual({
      start: now - 60_000,
      end: now,
    });
    const fast = simulatedWindow({ durationMs: 600_000, backfill: false, speed: 10, start: undefined }, now);
    // Ten simulated minutes take one wall minute, at whose end simulated time has caught up with the clock.
    expect(fast).toEqual({ start: now - 600_000 + 60_000, end: now + 60_000 });
    expect(simulatedWindow({ durationMs: 0, backfill: false, speed: 1, start: undefined }, now)).toEqual({
      start: now,
      end: Infinity,
    });
    expect(simulatedWindow({ durationMs: 1000, backfill: true, speed: 1, start: 5 }, now)).toEqual({
      start: 5,
      end: 1005,
    });
  });
});
