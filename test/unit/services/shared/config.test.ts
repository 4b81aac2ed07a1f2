import { describe, expect, it } from 'vitest';
import {
  bool,
  duration,
  int,
  list,
  num,
  oneOf,
  optionalStr,
  optionalUrl,
  parseConfig,
  parseDuration,
  port,
  str,
  url,
} from '../../../../services/shared/config.ts';
import { ConfigError, ErrorCodes } from '../../../../services/shared/errors.ts';

const spec = {
  port: port({ key: 'APP_PORT', doc: 'port', default: 8080 }),
  workers: int({ key: 'APP_WORKERS', doc: 'n', default: 2, min: 1, max: 64 }),
  ratio: num({ key: 'APP_RATIO', doc: 'r', default: 0.5, min: 0, max: 1 }),
  verbose: bool({ key: 'APP_VERBOSE', doc: 'v', default: false }),
  mode: oneOf({ key: 'APP_MODE', doc: 'm', default: 'fast', values: ['fast', 'safe'] as const }),
  endpoint: url({ key: 'APP_URL', doc: 'u', default: 'http://127.0.0.1:1' }),
  timeout: duration({ key: 'APP_TIMEOUT', doc: 't', default: 5000, min: 10 }),
  hosts: list({ key: 'APP_HOSTS', doc: 'h', default: ['a:1'], item: /^[a-z]+:\d+$/ }),
  name: str({ key: 'APP_NAME', doc: 'required name' }),
  note: optionalStr({ key: 'APP_NOTE', doc: 'note' }),
  registry: optionalUrl({ key: 'APP_REGISTRY', doc: 'r' }),
} as const;

function errorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('parseConfig', () => {
  it('applies defaults and returns a frozen object', () => {
    const c = parseConfig(spec, { APP_NAME: 'x' });
    expect(c).toEqual({
      port: 8080,
      workers: 2,
      ratio: 0.5,
      verbose: false,
      mode: 'fast',
      endpoint: 'http://127.0.0.1:1',
      timeout: 5000,
      hosts: ['a:1'],
      name: 'x',
      note: undefined,
      registry: undefined,
    });
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('parses every kind of value from the environment', () => {
    const c = parseConfig(spec, {
      APP_PORT: '0',
      APP_WORKERS: '8',
      APP_RATIO: '0.25',
      APP_VERBOSE: 'yes',
      APP_MODE: 'safe',
      APP_URL: 'https://example.test:9000/x',
      APP_TIMEOUT: '2m',
      APP_HOSTS: ' b:2 , c:3 ',
      APP_NAME: 'n',
      APP_NOTE: 'hello',
      APP_REGISTRY: 'http://127.0.0.1:8081',
    });
    expect(c).toMatchObject({
      port: 0,
      workers: 8,
      ratio: 0.25,
      verbose: true,
      mode: 'safe',
      timeout: 120_000,
    });
    expect(c.hosts).toEqual(['b:2', 'c:3']);
    expect(c.note).toBe('hello');
  });

  it.each([
    ['APP_PORT', '70000', 'between 0 and 65535'],
    ['APP_WORKERS', '2.5', 'an integer'],
    ['APP_WORKERS', '0', 'between 1 and 64'],
    ['APP_RATIO', 'abc', 'a number'],
    ['APP_VERBOSE', 'maybe', 'true/false'],
    ['APP_MODE', 'turbo', 'one of fast, safe'],
    ['APP_URL', 'ftp://x', 'a URL'],
    ['APP_TIMEOUT', '5 parsecs', 'a duration'],
    ['APP_TIMEOUT', '1ms', 'between 10ms'],
    ['APP_HOSTS', 'UPPER:1', 'comma-separated list'],
    ['APP_REGISTRY', 'not a url', 'a URL'],
  ])('rejects %s=%s naming the variable, the value and what was expected', (key, value, expected) => {
    const err = errorOf(() => parseConfig(spec, { APP_NAME: 'x', [key]: value }));
    expect(err.code).toBe(ErrorCodes.CONFIG);
    expect(err.variable).toBe(key);
    expect(err.message).toContain(key);
    expect(err.message).toContain(JSON.stringify(value));
    expect(err.message).toContain(expected);
  });

  it('rejects a missing required variable as required', () => {
    const err = errorOf(() => parseConfig(spec, {}));
    expect(err.variable).toBe('APP_NAME');
    expect(err.message).toContain('(required)');
  });

  it('reports every invalid variable at once', () => {
    const err = errorOf(() => parseConfig(spec, { APP_PORT: '-1', APP_MODE: 'x' }));
    expect(err.message).toContain('APP_PORT');
    expect(err.message).toContain('APP_MODE');
    expect(err.message).toContain('APP_NAME');
  });

  it('documents each variable with its default', () => {
    expect(spec.timeout.defaultText).toBe('5000ms');
    expect(spec.hosts.defaultText).toBe('a:1');
    expect(spec.name.defaultText).toBeUndefined();
  });
});

describe('parseDuration', () => {
  it.each([
    ['250', 250],
    ['250ms', 250],
    ['1.5s', 1500],
    ['2m', 120_000],
    ['1h', 3_600_000],
    ['1d', 86_400_000],
  ])('reads %s as %d ms', (raw, ms) => {
    expect(parseDuration(raw)).toBe(ms);
  });

  it.each(['', 's', '-1s', '1w', '1 2s'])('refuses %j', (raw) => {
    expect(parseDuration(raw)).toBeUndefined();
  });
});
