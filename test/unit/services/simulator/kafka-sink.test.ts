import { describe, expect, it } from 'vitest';
import { cardReference, parseTokenKeys } from '../../../../services/gateway/card-data.ts';
import { EncodeError, KafkaError, ShutdownError } from '../../../../services/shared/errors.ts';
import { KafkaSink } from '../../../../services/simulator/kafka-sink.ts';
import { Simulator } from '../../../../services/simulator/simulator.ts';

const KEYS = parseTokenKeys(`k7:${Buffer.alloc(40, 1).toString('base64')}`);
const START = Date.UTC(2026, 2, 3, 10);
const TOPICS = { transactions: 'p.transactions', heartbeats: 'p.heartbeats' };

interface Sent {
  topic: string;
  schema: string;
  records: { key: string; value: Record<string, unknown> }[];
}

function fakeProducer(failures: Error[] = []) {
  const sent: Sent[] = [];
  return {
    sent,
    producer: {
      send: async (topic: string, schema: string, records: readonly { key: string; value: unknown }[]) => {
        const failure = failures.shift();
        if (failure) throw failure;
        sent.push({ topic, schema, records: records as Sent['records'] });
        return [];
      },
    } as never,
  };
}

describe('KafkaSink', { timeout: 30_000 }, () => {
  const events = [
    ...new Simulator({
      seed: 'kafka',
      fleet: { terminals: 20 },
      rate: 5,
      start: START,
      end: START + 120_000,
    }).events(),
  ];

  it('publishes records keyed by terminal, tokenized as the gateway does, without the card number', async () => {
    const { producer, sent } = fakeProducer();
    const sink = new KafkaSink({
      producer,
      topics: TOPICS,
      tokenKeys: KEYS,
      gatewayId: 'sim-1',
      batchSize: 50,
    });
    await sink.send(events);
    const txRecords = sent.filter((s) => s.topic === TOPICS.transactions).flatMap((s) => s.records);
    const hbRecords = sent.filter((s) => s.topic === TOPICS.heartbeats).flatMap((s) => s.records);
    expect(sent.every((s) => s.records.length <= 50)).toBe(true);
    expect(sent.find((s) => s.topic === TOPICS.transactions)!.schema).toBe('TransactionEvent');
    const tx = events.filter((e) => e.kind === 'transaction');
    expect(txRecords).toHaveLength(tx.length);
    expect(hbRecords).toHaveLength(events.length - tx.length);
    for (const [i, ev] of tx.entries()) {
      const r = txRecords[i]!;
      expect(r.key).toBe(ev.fields.terminal_serial);
      expect(r.value['event_id']).toBe(ev.fields.event_id);
      expect(r.value).toMatchObject({
        gateway_id: 'sim-1',
        ingest_channel: 'KAFKA',
        gateway_received_time: ev.time + 25,
      });
      expect('pan' in r.value).toBe(false);
      if (ev.fields.pan !== null) expect(r.value).toMatchObject(cardReference(ev.fields.pan, KEYS));
      else expect(r.value['card_token']).toBeNull();
    }
    const bytes = JSON.stringify(sent);
    for (const ev of tx) if (ev.fields.pan !== null) expect(bytes.includes(ev.fields.pan)).toBe(false);
    expect(sink.stats()).toMatchObject({ accepted: events.length, failed: 0 });
  });

  it('retries a retryable Kafka error and counts a batch it gives up on as failed', async () => {
    const retryable = () => new KafkaError('broker away', { retryable: true });
    const { producer } = fakeProducer([retryable(), retryable(), retryable()]);
    const sink = new KafkaSink({
      producer,
      topics: TOPICS,
      tokenKeys: KEYS,
      maxAttempts: 2,
      sleep: async () => {},
    });
    const hb = events.filter((e) => e.kind === 'heartbeat').slice(0, 3);
    await sink.send(hb);
    expect(sink.stats()).toMatchObject({ failed: 3, accepted: 0 });
    expect(sink.stats().lastError).toMatch(/p\.heartbeats: broker away \(gave up after 2 tries\)/);
    await sink.send(hb);
    expect(sink.stats()).toMatchObject({ failed: 3, accepted: 3 });
  });

  it('does not retry an encoding error, and stops on shutdown', async () => {
    const { producer } = fakeProducer([
      new EncodeError('TransactionEvent', ['amount_minor']),
      new ShutdownError('closing'),
    ]);
    const sink = new KafkaSink({ producer, topics: TOPICS, tokenKeys: KEYS, sleep: async () => {} });
    const tx = events.filter((e) => e.kind === 'transaction').slice(0, 2);
    await sink.send(tx);
    expect(sink.stats().failed).toBe(2);
    await expect(sink.send(tx)).rejects.toBeInstanceOf(ShutdownError);
  });
});
