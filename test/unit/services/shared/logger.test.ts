import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../../services/shared/logger.ts';

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _e, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  return { lines, logger: createLogger({ service: 'test', level: 'info', destination }) };
}

describe('logger', () => {
  it('writes one JSON line per event with the service and level', () => {
    const { lines, logger } = capture();
    logger.info({ terminal: 'T1' }, 'hello');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({
      service: 'test',
      level: 'info',
      terminal: 'T1',
      msg: 'hello',
    });
  });

  it('redacts card data and secrets by key, also one and two levels down', () => {
    const { lines, logger } = capture();
    const pan = '4111111111111111';
    logger.warn({
      pan,
      body: { card_number: pan, track2: `${pan}=2512` },
      req: { headers: { authorization: 'Bearer s3cret' } },
    });
    const out = lines.join('');
    expect(out).not.toContain(pan);
    expect(out).not.toContain('s3cret');
    expect(JSON.parse(lines[0]!)).toMatchObject({ pan: '[redacted]', body: { card_number: '[redacted]' } });
  });
});
