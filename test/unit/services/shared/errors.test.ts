import { describe, expect, it } from 'vitest';
import * as errors from '../../../../services/shared/errors.ts';

const classes = Object.values(errors).filter(
  (v): v is typeof errors.PosPulseError =>
    typeof v === 'function' && v.prototype instanceof errors.PosPulseError,
);

describe('errors', () => {
  it('gives every error class a distinct code from the published list', () => {
    const codes = classes.map((c) => c.code);
    expect(new Set(codes).size).toBe(codes.length);
    for (const code of codes) expect(Object.values(errors.ErrorCodes)).toContain(code);
  });

  it("gives each instance its class's code and keeps the cause", () => {
    const cause = new Error('root');
    const samples: errors.PosPulseError[] = [
      new errors.ConfigError('X', 'y', 'a number'),
      new errors.DecodeError('truncated', { topic: 't', partition: 1, offset: '7' }, { cause }),
      new errors.EncodeError('T', ['a.b']),
      new errors.UnknownSchemaError('fp:1', { cause }),
      new errors.SchemaRegistryError('down', { cause, retryable: true }),
      new errors.ValidationError('bad', 'amount'),
      new errors.AuthError('no'),
      new errors.KafkaError('k', { cause }),
      new errors.ClickHouseStoreError('c', { cause }),
      new errors.ShutdownError('closing'),
      new errors.MigrationError('checksum changed'),
      new errors.Iso8583Error('TRUNCATED', 'field ends past the message', 2, 17),
      new errors.OverloadError('queue_full', 'queue full', 1000),
      new errors.RulesError('rules.json', ['rules.velocity.max_attempts: expected a number']),
    ];
    expect(samples.map((s) => s.constructor)).toEqual(expect.arrayContaining(classes));
    for (const s of samples) {
      expect(s.code).toBe((s.constructor as typeof errors.PosPulseError).code);
      expect(s.name).toBe(s.constructor.name);
    }
    expect(samples[1]!.cause).toBe(cause);
    expect(samples[4]!.retryable).toBe(true);
  });

  it('names topic, partition and offset in a decode error', () => {
    const e = new errors.DecodeError('bad marker', { topic: 'pp.tx', partition: 3, offset: '42' });
    expect(e.message).toContain('pp.tx');
    expect(e.message).toContain('partition 3');
    expect(e.message).toContain('offset 42');
  });
});
