import { describe, expect, it } from 'vitest';
import { KafkaError, OverloadError, ShutdownError } from '../../../../services/shared/errors.ts';
import { createLogger } from '../../../../services/shared/logger.ts';
import { createMetricsRegistry } from '../../../../services/shared/metrics.ts';
import { Publisher, type PublisherOptions } from '../../../../services/gateway/publisher.ts';
import type { PublishItem } from '../../../../services/gateway/sink.ts';
import { sampleHeartbeat, sampleTransaction } from '../../../support/fixtures.ts';

interface Sent {
  topic: string;
  keys: string[];
  ids: string[];
}

/** A producer whose sends succeed, fail or hang as the test says. */
function fakeProducer() {
  const sent: Sent[] = [];
  let mode: 'ok' | 'fail' | 'hang' = 'ok';
  const hung: (() => void)[] = [];
  const producer: PublisherOptions['producer'] = {
    send: (async (
      topic: string,
      _schema: string,
      records: { key: string; value: { event_id: string } }[],
    ) => {
      if (mode === 'fail') throw new KafkaError('broker down', { retryable: true });
      if (mode === 'hang') await new Promise<void>((resolve) => hung.push(resolve));
      sent.push({ topic, keys: records.map((r) => r.key), ids: records.map((r) => r.value.event_id) });
      return [];
    }) as PublisherOptions['producer']['send'],
  };
  return {
    producer,
    sent,
    set: (m: typeof mode) => {
      mode = m;
    },
    release: () => {
      for (const f of hung.splice(0)) f();
    },
  };
}

function tx(i: number): PublishItem {
  const value = sampleTransaction(i);
  return { schema: 'TransactionEvent', eventId: value.event_id, key: value.terminal_serial, value };
}

function hb(i: number): PublishItem {
  const value = sampleHeartbeat(i);
  return { schema: 'TerminalHeartbeat', eventId: value.event_id, key: value.terminal_serial, value };
}

function publisher(over: Partial<PublisherOptions> = {}) {
  const fake = fakeProducer();
  const p = new Publisher({
    producer: fake.producer,
    topics: { transactions: 'tx', heartbeats: 'hb' },
    logger: createLogger({ service: 'test', level: 'silent' }),
    metrics: createMetricsRegistry('gateway', false),
    maxQueued: 100,
    maxBatch: 50,
    timeoutMs: 2_000,
    dedupeWindowMs: 60_000,
    dedupeMaxEntries: 10_000,
    retryAfterMs: 1_000,
    ...over,
  });
  return { p, fake };
}

describe('Publisher', () => {
  it('resolves only after Kafka took the events, each on its topic with the terminal serial as key', async () => {
    const { p, fake } = publisher();
    expect(await p.publish([tx(1), hb(2), tx(3)])).toEqual(['accepted', 'accepted', 'accepted']);
    expect(fake.sent).toEqual([
      { topic: 'tx', keys: [tx(1).key, tx(3).key], ids: [tx(1).eventId, tx(3).eventId] },
      { topic: 'hb', keys: [hb(2).key], ids: [hb(2).eventId] },
    ]);
    expect(p.depth).toBe(0);
  });

  it('answers a repeated event id as duplicate without sending it again, within one call and across calls', async () => {
    const { p, fake } = publisher();
    expect(await p.publish([tx(1), tx(1)])).toEqual(['accepted', 'duplicate']);
    expect(await p.publish([tx(1), tx(2)])).toEqual(['duplicate', 'accepted']);
    expect(fake.sent.flatMap((s) => s.ids)).toEqual([tx(1).eventId, tx(2).eventId]);
  });

  it('lets a concurrent copy of an event wait for the first and answers it duplicate', async () => {
    const { p, fake } = publisher();
    fake.set('hang');
    const first = p.publish([tx(1)]);
    await new Promise((r) => setImmediate(r));
    const second = p.publish([tx(1)]);
    fake.release();
    expect(await first).toEqual(['accepted']);
    expect(await second).toEqual(['duplicate']);
    expect(fake.sent).toHaveLength(1);
  });

  it('batches events of concurrent calls into one produce request', async () => {
    const { p, fake } = publisher();
    const calls = await Promise.all([0, 1, 2, 3].map((i) => p.publish([tx(i * 2), tx(i * 2 + 1)])));
    expect(calls.flat()).toEqual(Array(8).fill('accepted'));
    expect(fake.sent).toHaveLength(1);
    expect(fake.sent[0]?.ids).toHaveLength(8);
  });

  it('refuses at once with queue_full when the queue cannot take the events', async () => {
    const { p, fake } = publisher({ maxQueued: 3 });
    fake.set('hang');
    const waiting = p.publish([tx(1), tx(2)]);
    await new Promise((r) => setImmediate(r));
    await expect(p.publish([tx(3), tx(4)])).rejects.toMatchObject({
      code: 'PP_ERR_OVERLOADED',
      reason: 'queue_full',
      retryAfterMs: 1000,
    });
    fake.release();
    expect(await waiting).toEqual(['accepted', 'accepted']);
  });

  it('fails a call at its deadline while Kafka is down and acknowledges nothing; the events are not sent later', async () => {
    const { p, fake } = publisher({ timeoutMs: 300 });
    fake.set('fail');
    const err = await p.publish([tx(1)]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OverloadError);
    expect((err as OverloadError).reason).toBe('timeout');
    expect(p.kafkaHealthy).toBe(false);
    fake.set('ok');
    // The withdrawn event is gone: a retry is new, not a duplicate.
    expect(await p.publish([tx(1)])).toEqual(['accepted']);
    expect(fake.sent.flatMap((s) => s.ids)).toEqual([tx(1).eventId]);
    expect(p.kafkaHealthy).toBe(true);
  });

  it('retries a failed send while the caller waits, and succeeds when Kafka is back', async () => {
    const { p, fake } = publisher({ timeoutMs: 5_000 });
    fake.set('fail');
    const pending = p.publish([tx(1), hb(1)]);
    await new Promise((r) => setTimeout(r, 250));
    expect(fake.sent).toHaveLength(0);
    fake.set('ok');
    expect(await pending).toEqual(['accepted', 'accepted']);
  });

  it('on close, flushes what is queued, then refuses new events', async () => {
    const { p, fake } = publisher();
    const pending = p.publish([tx(1)]);
    await p.close(1_000);
    expect(await pending).toEqual(['accepted']);
    await expect(p.publish([tx(2)])).rejects.toBeInstanceOf(ShutdownError);
    expect(fake.sent).toHaveLength(1);
  });

  it('on close, fails what Kafka did not take within the limit', async () => {
    const { p, fake } = publisher();
    fake.set('fail');
    const pending = p.publish([tx(1)]).catch((e: unknown) => e);
    await p.close(200);
    expect(await pending).toBeInstanceOf(ShutdownError);
    expect(p.depth).toBe(0);
  });
});
