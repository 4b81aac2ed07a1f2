import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { generateKey } from '../../../../services/gateway/api-keys.ts';
import { cardReference, parseTokenKeys } from '../../../../services/gateway/card-data.ts';
import type {
  TerminalHeartbeat,
  TransactionEvent,
} from '../../../../services/shared/avro/types.generated.ts';
import type { SimEvent, SimTransaction } from '../../../../services/simulator/events.ts';
import { transactionRecord } from '../../../../services/simulator/events.ts';
import { HttpSink } from '../../../../services/simulator/http-sink.ts';
import type { CardLabel } from '../../../../services/simulator/incidents.ts';
import { IsoSink } from '../../../../services/simulator/iso-sink.ts';
import { writeTerminalRegistry } from '../../../../services/simulator/registry.ts';
import { runSimulation } from '../../../../services/simulator/runner.ts';
import type { Sink, SinkStats } from '../../../../services/simulator/sink.ts';
import { Simulator } from '../../../../services/simulator/simulator.ts';
import { startTestGateway, testTokenKeys, type TestGateway } from '../../support/gateway.ts';
import { describeKafka, kafkaBrokers, readTopic } from '../../support/kafka.ts';

const TOKEN_KEYS = testTokenKeys();
const KEYS = parseTokenKeys(TOKEN_KEYS);

/**
 * The latest weekday 10:00-10:10 UTC that is over (and within the gateway's 7-day event age), so a
 * backfill has daytime traffic whenever the test runs.
 */
function busyWindow(now: number): { start: number; end: number } {
  for (let day = 0; day < 7; day++) {
    const d = new Date(now - day * 86_400_000);
    const start = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), 10);
    const weekday = new Date(start).getUTCDay();
    if (weekday >= 1 && weekday <= 5 && start + 660_000 < now && start > now - 6.5 * 86_400_000) {
      return { start, end: start + 600_000 };
    }
  }
  throw new Error('unreachable: the last 7 days hold a weekday morning');
}

/** Records the events a sink was given, then passes them on. */
function recording(inner: Sink): Sink & { events: SimEvent[] } {
  const events: SimEvent[] = [];
  return {
    name: inner.name,
    events,
    send: async (batch) => {
      events.push(...batch);
      await inner.send(batch);
    },
    stats: (): SinkStats => inner.stats(),
    close: () => inner.close(),
  };
}

function expectNoPan(records: { value: Buffer | null }[], events: SimEvent[]): void {
  const pans = [
    ...new Set(
      events.flatMap((e) => (e.kind === 'transaction' && e.fields.pan !== null ? [e.fields.pan] : [])),
    ),
  ];
  expect(pans.length).toBeGreaterThan(10);
  const haystack = Buffer.concat(records.map((r) => r.value ?? Buffer.alloc(0)));
  for (const pan of pans) expect(haystack.includes(Buffer.from(pan, 'latin1'))).toBe(false);
}

describeKafka('the simulator through a real gateway', () => {
  describeKafka('over HTTP', () => {
    let gw: TestGateway;
    const key = generateKey('simulator');

    beforeAll(async () => {
      gw = await startTestGateway(kafkaBrokers(), {
        GATEWAY_ISO_ENABLED: 'false',
        GATEWAY_TOKEN_KEYS: TOKEN_KEYS,
        GATEWAY_API_KEYS: JSON.stringify([{ id: 'simulator', key_sha256: key.sha256, merchants: ['*'] }]),
      });
    }, 60_000);
    afterAll(async () => {
      await gw?.close();
    });

    it('backfills a labelled window: the topics hold exactly the events sent, tokenized as labelled, without card numbers', async () => {
      const window = busyWindow(Date.now());
      const sim = new Simulator({
        seed: 'it-http',
        fleet: { terminals: 40, regions: 3 },
        rate: 4,
        ...window,
        tokenKeys: KEYS,
        incidents: [
          { kind: 'card_testing', start: window.start + 60_000, end: window.start + 360_000 },
          {
            kind: 'refund_abuse',
            start: window.start + 120_000,
            end: window.start + 480_000,
            params: { refunds: 4 },
          },
        ],
      });
      const sink = recording(
        new HttpSink({ url: gw.gateway.httpUrl, apiKey: key.secret, format: 'ndjson', batchSize: 300 }),
      );
      const report = await runSimulation(sim, sink, {
        pace: 'backfill',
        batchSize: 300,
        progressIntervalMs: 0,
      });
      const sent = sink.events;
      expect(report.sink).toMatchObject({ rejected: 0, failed: 0, duplicates: 0, accepted: sent.length });

      const txRecords = await readTopic(gw.kafka, gw.topics.transactions);
      const hbRecords = await readTopic(gw.kafka, gw.topics.heartbeats);
      const onTopic = new Map<string, TransactionEvent>();
      for (const r of txRecords) {
        const ev = await gw.codec.decode(r.value!, 'TransactionEvent');
        expect(r.key!.toString()).toBe(ev.terminal_serial);
        onTopic.set(ev.event_id, ev);
      }
      const heartbeats = await Promise.all(
        hbRecords.map((r) => gw.codec.decode(r.value!, 'TerminalHeartbeat')),
      );
      const sentTx = sent.filter((e): e is SimTransaction => e.kind === 'transaction');
      expect([...onTopic.keys()].sort()).toEqual(sentTx.map((e) => e.fields.event_id).sort());
      expect(heartbeats.map((h: TerminalHeartbeat) => h.event_id).sort()).toEqual(
        sent
          .filter((e) => e.kind === 'heartbeat')
          .map((e) => e.fields.event_id)
          .sort(),
      );
      for (const e of sentTx) {
        const published = onTopic.get(e.fields.event_id)!;
        expect(published).toEqual(
          transactionRecord(e.fields, {
            tokenKeys: KEYS,
            gatewayId: 'gw-test',
            channel: 'HTTP',
            receivedTime: published.gateway_received_time,
          }),
        );
      }
      // The labels name the tokens the gateway gave the incidents' cards.
      const [testing, refunds] = report.labels;
      const testingTokens = new Set(
        [...onTopic.values()]
          .filter((e) => e.terminal_serial === testing!.entity_ids[0] && e.amount_minor <= 500)
          .map((e) => e.card_token),
      );
      for (const c of testing!.params['cards'] as CardLabel[]) expect(testingTokens.has(c.token)).toBe(true);
      const refundEvents = [...onTopic.values()].filter((e) => e.card_token === refunds!.entity_ids[0]);
      expect(refundEvents.map((e) => e.transaction_type)).toEqual(['REFUND', 'REFUND', 'REFUND', 'REFUND']);
      expectNoPan(txRecords, sent);
    }, 30_000);

    it('runs in real time, stamping events with the present', async () => {
      const start = Date.now();
      const sim = new Simulator({
        seed: 'it-live',
        fleet: { terminals: 30 },
        rate: 20,
        heartbeatIntervalMs: 5_000,
        start,
        end: start + 3_000,
        incidents: 'none',
      });
      const sink = recording(new HttpSink({ url: gw.gateway.httpUrl, apiKey: key.secret }));
      const report = await runSimulation(sim, sink, { pace: 'realtime', progressIntervalMs: 0 });
      expect(Date.now() - start).toBeGreaterThanOrEqual(3_000);
      expect(report.sink).toMatchObject({ rejected: 0, failed: 0 });
      expect(report.heartbeats).toBeGreaterThan(10);
      for (const e of sink.events) {
        const t = e.kind === 'transaction' ? e.fields.request_time : e.fields.event_time;
        expect(t).toBeGreaterThanOrEqual(start);
        expect(t).toBeLessThan(start + 3_000);
      }
    }, 30_000);
  });

  describeKafka('over ISO 8583', () => {
    let gw: TestGateway;
    const dir = mkdtempSync(join(tmpdir(), 'sim-iso-'));
    const registryPath = join(dir, 'terminals.json');
    const options = { seed: 'it-iso', fleet: { terminals: 25, regions: 3 }, rate: 25 };

    beforeAll(async () => {
      // The registry the gateway reads for what ISO 8583 does not carry, written for the same fleet.
      const probe = new Simulator({ ...options, start: 0, end: 1 });
      writeTerminalRegistry(registryPath, probe.fleet);
      gw = await startTestGateway(kafkaBrokers(), {
        GATEWAY_TOKEN_KEYS: TOKEN_KEYS,
        GATEWAY_TERMINALS_FILE: registryPath,
        GATEWAY_ISO_RESPONSE_TIMEOUT: '500ms',
      });
    }, 60_000);
    afterAll(async () => {
      await gw?.close();
    });

    it('plays request/response pairs and echo tests that the gateway publishes with the registry’s placement', async () => {
      // Simulated time is a busy morning; the gateway stamps its own clock anyway.
      const start = Date.UTC(2026, 2, 3, 10);
      const sim = new Simulator({
        ...options,
        heartbeatIntervalMs: 5_000,
        start,
        end: start + 4_000,
        incidents: 'none',
      });
      const iso = new IsoSink({ host: '127.0.0.1', port: gw.gateway.isoPort! });
      await iso.connect();
      const sink = recording(iso);
      const report = await runSimulation(sim, sink, { pace: 'realtime', progressIntervalMs: 0 });
      await sink.close();
      const sentTx = sink.events.filter((e): e is SimTransaction => e.kind === 'transaction');
      const sentHb = sink.events.filter((e) => e.kind === 'heartbeat');
      expect(sentTx.length).toBeGreaterThan(30);
      expect(report.sink.failed).toBe(0);
      // Closing wrote the responses still waiting for their latency, and read the last 0810s.
      expect(sink.stats()).toMatchObject({ failed: 0, accepted: sentTx.length + sentHb.length });

      // Timeouts are published by the gateway after its response timeout.
      let txRecords = await readTopic(gw.kafka, gw.topics.transactions);
      for (let i = 0; i < 40 && txRecords.length < sentTx.length; i++) {
        await new Promise((r) => setTimeout(r, 250));
        txRecords = await readTopic(gw.kafka, gw.topics.transactions);
      }
      const published = await Promise.all(
        txRecords.map((r) => gw.codec.decode(r.value!, 'TransactionEvent')),
      );
      expect(published).toHaveLength(sentTx.length);
      const byKey = new Map(published.map((e) => [`${e.terminal_serial}:${e.stan}`, e]));
      const latencyGaps: number[] = [];
      for (const { fields: f } of sentTx) {
        const e = byKey.get(`${f.terminal_serial}:${f.stan}`)!;
        expect(e).toMatchObject({
          ingest_channel: 'ISO8583',
          merchant_id: f.merchant_id,
          merchant_name: f.merchant_name,
          region: f.region,
          acquirer_id: f.acquirer_id,
          mcc: f.mcc,
          latitude: f.latitude,
          longitude: f.longitude,
          currency: f.currency,
          amount_minor: f.amount_minor,
          status: f.status,
          response_code: f.response_code,
          entry_mode: f.entry_mode,
        });
        if (f.pan !== null) expect(e).toMatchObject(cardReference(f.pan, KEYS));
        if (f.response_time !== null) {
          latencyGaps.push(Math.abs(e.response_time! - e.request_time - (f.response_time - f.request_time)));
        }
      }
      // The gateway measures the host latency the simulator played (timer and socket jitter aside).
      latencyGaps.sort((a, b) => a - b);
      expect(latencyGaps[Math.floor(latencyGaps.length / 2)]).toBeLessThan(30);
      const hbRecords = await readTopic(gw.kafka, gw.topics.heartbeats);
      const heartbeats = await Promise.all(
        hbRecords.map((r) => gw.codec.decode(r.value!, 'TerminalHeartbeat')),
      );
      expect(heartbeats).toHaveLength(sentHb.length);
      for (const h of heartbeats)
        expect(h).toMatchObject({
          ingest_channel: 'ISO8583',
          online: true,
          merchant_id: expect.stringMatching(/^M\d{6}$/),
        });
      expectNoPan(txRecords, sink.events);
    }, 30_000);
  });
});
