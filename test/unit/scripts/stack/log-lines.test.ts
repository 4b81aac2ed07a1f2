import { describe, expect, it } from 'vitest';
import { formatLine } from '../../../../scripts/stack/log-lines.ts';

const plain = { nameWidth: 9, colour: false };

describe('formatLine', () => {
  it('turns a pino line into one readable line with the service name', () => {
    const line = JSON.stringify({
      level: 40,
      time: Date.UTC(2026, 11, 3, 12, 4, 5),
      pid: 1,
      hostname: 'h',
      service: 'processor',
      msg: 'slow batch',
      partition: 3,
      topic: 'pp transactions',
      err: { message: 'boom', code: 'PP_ERR_KAFKA', stack: 'Error: boom\n at x' },
    });
    expect(formatLine('processor', line, plain)).toBe(
      '12:04:05 processor │ WARN  slow batch  partition=3 topic="pp transactions" err="boom" code=PP_ERR_KAFKA',
    );
  });

  it('passes other lines through with the prefix', () => {
    expect(formatLine('kafka', 'Kafka 4.1.1 ready on 127.0.0.1:9092', plain)).toMatch(
      /^\d\d:\d\d:\d\d kafka {5}│ Kafka 4\.1\.1 ready on 127\.0\.0\.1:9092$/,
    );
    expect(formatLine('x', '{not json', plain)).toMatch(/│ \{not json$/);
  });

  it('colours warnings and errors only when asked', () => {
    const line = JSON.stringify({ level: 50, time: 0, msg: 'down' });
    expect(formatLine('api', line, { nameWidth: 3, colour: true })).toContain(
      '\u001b[31mERROR\u001b[0m down',
    );
    expect(formatLine('api', line, plain)).not.toContain('\u001b');
  });
});
