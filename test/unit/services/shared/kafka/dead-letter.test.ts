import type { KafkaMessage } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { DecodeError, ErrorCodes } from '../../../../../services/shared/errors.ts';
import { DLQ_HEADERS, deadLetterMessage } from '../../../../../services/shared/kafka/dead-letter.ts';

describe('deadLetterMessage', () => {
  it('keeps the original bytes and headers and says where the record was and why it failed', () => {
    const message: KafkaMessage = {
      key: Buffer.from('TRM-1'),
      value: Buffer.from([0xc3, 0x01, 0xff]),
      timestamp: '1767225600000',
      attributes: 0,
      offset: '42',
      headers: { trace: 'abc' },
    };
    const err = new DecodeError('truncated body', { topic: 'pp.transactions', partition: 2, offset: '42' });
    const dlq = deadLetterMessage(
      { topic: 'pp.transactions', partition: 2, groupId: 'proc' },
      message,
      err,
      99,
    );
    expect(dlq.key).toBe(message.key);
    expect(dlq.value).toBe(message.value);
    expect(dlq.headers).toEqual({
      trace: 'abc',
      [DLQ_HEADERS.topic]: 'pp.transactions',
      [DLQ_HEADERS.partition]: '2',
      [DLQ_HEADERS.offset]: '42',
      [DLQ_HEADERS.timestamp]: '1767225600000',
      [DLQ_HEADERS.code]: ErrorCodes.DECODE,
      [DLQ_HEADERS.error]: err.message,
      [DLQ_HEADERS.consumerGroup]: 'proc',
      [DLQ_HEADERS.time]: '99',
    });
  });
});
