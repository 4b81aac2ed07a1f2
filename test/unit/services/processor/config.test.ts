import { describe, expect, it } from 'vitest';
import { parseProcessorConfig } from '../../../../services/processor/config.ts';
import { ConfigError, ErrorCodes } from '../../../../services/shared/errors.ts';

const REQUIRED = { PROCESSOR_METRICS_TOKEN: 'metrics-secret-1' };

function errorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('processor configuration: windows, ticks and rolling levels', () => {
  it('defaults to 2 min lateness, 1 min future skew, 30 s idle grace, 5 s ticks, 5 min offline', () => {
    expect(parseProcessorConfig(REQUIRED)).toMatchObject({
      allowedLatenessMs: 120_000,
      maxFutureSkewMs: 60_000,
      idleGraceMs: 30_000,
      tickIntervalMs: 5_000,
      offlineAfterMs: 300_000,
      rollingLevels: ['MERCHANT', 'REGION', 'ACQUIRER', 'FLEET'],
    });
  });

  it('reads durations with units, bounds included, and rolling levels as a list', () => {
    const c = parseProcessorConfig({
      ...REQUIRED,
      PROCESSOR_ALLOWED_LATENESS: '0',
      PROCESSOR_MAX_FUTURE_SKEW: '1d',
      PROCESSOR_IDLE_GRACE: '1s',
      PROCESSOR_TICK_INTERVAL: '250ms',
      PROCESSOR_OFFLINE_AFTER: '2.5m',
      PROCESSOR_ROLLING_LEVELS: ' TERMINAL , FLEET ',
    });
    expect(c).toMatchObject({
      allowedLatenessMs: 0,
      maxFutureSkewMs: 86_400_000,
      idleGraceMs: 1_000,
      tickIntervalMs: 250,
      offlineAfterMs: 150_000,
      rollingLevels: ['TERMINAL', 'FLEET'],
    });
    expect(Object.isFrozen(c)).toBe(true);
  });

  it.each([
    ['PROCESSOR_ALLOWED_LATENESS', 'two minutes'],
    ['PROCESSOR_ALLOWED_LATENESS', '-5s'],
    ['PROCESSOR_ALLOWED_LATENESS', '2d'],
    ['PROCESSOR_MAX_FUTURE_SKEW', '25h'],
    ['PROCESSOR_MAX_FUTURE_SKEW', '1w'],
    ['PROCESSOR_IDLE_GRACE', '999ms'],
    ['PROCESSOR_IDLE_GRACE', '2h'],
    ['PROCESSOR_TICK_INTERVAL', '50ms'],
    ['PROCESSOR_TICK_INTERVAL', '2m'],
    ['PROCESSOR_OFFLINE_AFTER', '500'],
    ['PROCESSOR_OFFLINE_AFTER', 'never'],
    ['PROCESSOR_ROLLING_LEVELS', 'MERCHANT,STORE'],
    ['PROCESSOR_ROLLING_LEVELS', 'merchant'],
    ['PROCESSOR_ROLLING_LEVELS', 'UNKNOWN'],
    ['PROCESSOR_ROLLING_LEVELS', ',,'],
  ])('refuses %s=%j, naming the variable and the value', (key, value) => {
    const err = errorOf(() => parseProcessorConfig({ ...REQUIRED, [key]: value }));
    expect(err.code).toBe(ErrorCodes.CONFIG);
    expect(err.code).toBe(ConfigError.code);
    expect(err.variable).toBe(key);
    expect(err.value).toBe(value);
    expect(err.message).toContain(key);
    expect(err.message).toContain(JSON.stringify(value));
  });

  it('says what a duration must be, with its bounds', () => {
    const err = errorOf(() => parseProcessorConfig({ ...REQUIRED, PROCESSOR_IDLE_GRACE: '10ms' }));
    expect(err.expected).toMatch(/duration/);
    expect(err.expected).toContain('1000ms');
    expect(err.expected).toContain('3600000ms');
  });

  it('names every bad variable at once', () => {
    const err = errorOf(() =>
      parseProcessorConfig({
        ...REQUIRED,
        PROCESSOR_ALLOWED_LATENESS: 'x',
        PROCESSOR_TICK_INTERVAL: '1ms',
        PROCESSOR_ROLLING_LEVELS: 'SHOP',
      }),
    );
    expect(err.variable).toBe('PROCESSOR_ALLOWED_LATENESS');
    expect(err.message).toContain('PROCESSOR_TICK_INTERVAL');
    expect(err.message).toContain('PROCESSOR_ROLLING_LEVELS');
  });
});
