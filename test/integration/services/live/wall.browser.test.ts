import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTokenKeys } from '../../../../services/gateway/card-data.ts';
import { buildWall } from '../../../../services/live/wall/build.ts';
import type { Processor } from '../../../../services/processor/processor.ts';
import type { Alert } from '../../../../services/shared/avro/types.generated.ts';
import { createAvroCodec } from '../../../../services/shared/avro/codec.ts';
import { parseAvroCodecConfig } from '../../../../services/shared/avro/config.ts';
import { createKafka } from '../../../../services/shared/kafka/client.ts';
import { parseKafkaConfig } from '../../../../services/shared/kafka/config.ts';
import type { EventProducer } from '../../../../services/shared/kafka/producer.ts';
import { topicNames } from '../../../../services/shared/kafka/topics.ts';
import { createLogger } from '../../../../services/shared/logger.ts';
import { KafkaSink, Simulator, runSimulation } from '../../../../services/simulator/simulator.ts';
import { repoRoot } from '../../support/broker.ts';
import { describeKafka, isCI, kafkaBrokers, uniqueName } from '../../support/kafka.ts';
import { openLive } from '../../support/live.ts';
import { openPipeline } from '../../support/pipeline.ts';
import { testProcessor } from '../../support/processor.ts';
import type { TestStore } from '../../support/store.ts';

/*
 * The wall page in a real browser (Debian's chromium, driven by playwright-core) against a running
 * pipeline: the simulator sends a small fleet to Kafka in real time, the processor turns it into
 * terminal statuses and KPIs, the live service serves them. Saves a screenshot to test-artifacts/.
 */

const TOKEN = 'wall-browser-token-0123456789';
const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
const TERMINALS = 12;
/** Under CI a missing browser fails the test rather than skipping it. */
const describeWall = hasChromium || isCI ? describeKafka : describe.skip;

describeWall('the wall page in a browser, fed by the simulator through the pipeline', () => {
  const logger = createLogger({ service: 'wall-test', level: 'silent' });
  const codec = createAvroCodec(parseAvroCodecConfig({}));
  const kafka = createKafka(parseKafkaConfig({ KAFKA_BROKERS: kafkaBrokers().join(',') }), logger);
  const prefix = `${uniqueName('wall')}.`;
  const topics = topicNames(prefix);
  const db = `wall_${Math.random().toString(36).slice(2, 10)}`;
  const wallDir = mkdtempSync(path.join(tmpdir(), 'pospulse-wall-'));
  const stopSim = new AbortController();
  let test: TestStore;
  let producer: EventProducer;
  let processor: Processor;
  let close: (() => Promise<void>) | undefined;
  let live: Awaited<ReturnType<typeof openLive>>['live'];
  let browser: Browser;
  let simulation: Promise<unknown>;
  let pageUrl: string;

  beforeAll(async () => {
    await buildWall(wallDir);
    ({ test, producer } = await openPipeline({ kafka, codec, logger, prefix, db, partitions: 2 }));
    processor = testProcessor(
      { kafka, codec, store: test.store, producer, topics, db, logger },
      uniqueName('g'),
    );
    await processor.start();
    let origin: string;
    ({ live, close, origin } = await openLive({
      kafka,
      codec,
      logger,
      topics,
      token: TOKEN,
      overrides: { coalesceMs: 250, wallDir },
    }));
    pageUrl = `http://${origin}/#token=${TOKEN}`;
    // A small, busy fleet in real time; heartbeats every 5 s (the simulator's least) so every
    // terminal shows up at once.
    const now = Date.now();
    const sim = new Simulator({
      seed: 'wall-browser',
      fleet: { terminals: TERMINALS, regions: 2, acquirers: 1, cards: 2_000 },
      rate: 30,
      heartbeatIntervalMs: 5_000,
      start: now,
      end: now + 10 * 60_000,
      incidents: 'none',
      tokenKeys: parseTokenKeys(`k1:${Buffer.alloc(32, 7).toString('base64')}`),
    });
    const sink = new KafkaSink({
      producer,
      topics,
      tokenKeys: parseTokenKeys(`k1:${Buffer.alloc(32, 7).toString('base64')}`),
    });
    simulation = runSimulation(sim, sink, {
      pace: 'realtime',
      progressIntervalMs: 0,
      signal: stopSim.signal,
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
  }, 180_000);

  afterAll(async () => {
    stopSim.abort();
    await simulation?.catch(() => undefined);
    await browser?.close();
    await close?.();
    await processor?.stop();
    await producer?.disconnect();
    await test?.close();
    rmSync(wallDir, { recursive: true, force: true });
  });

  it('shows the fleet live — tiles, grid, sparkline data and an injected alert — and saves a screenshot', async () => {
    // The page's CSP forbids eval, which the page-side checks below use: the test bypasses it.
    const page = await browser.newPage({ viewport: { width: 1920, height: 1080 }, bypassCSP: true });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(pageUrl);
    await page.waitForSelector('#link.live', { timeout: 30_000 });
    // Every terminal of the fleet reaches the grid and the tiles, as the processor reports them.
    // (Page-side checks are expressions: this file is typed for Node, not the DOM.)
    await page.waitForFunction(`document.querySelectorAll('#grid .cell').length === ${TERMINALS}`, null, {
      timeout: 60_000,
    });
    await page.waitForFunction(`document.getElementById('t-total').textContent === '${TERMINALS}'`, null, {
      timeout: 30_000,
    });
    const online = Number(await page.textContent('#t-online'));
    expect(online).toBeGreaterThan(0);
    expect(await page.locator('#grid .cell.ONLINE').count()).toBe(online);
    // The fleet's KPIs arrive with the processor's first minute partials.
    await page.waitForFunction(`/^[0-9.]+$/.test(document.getElementById('t-tps').textContent)`, null, {
      timeout: 60_000,
    });
    expect(await page.textContent('#t-approval')).toMatch(/^\d+\.\d %$/);

    const alert = {
      alert_id: '0d7c1f9a-2b1e-4c55-8a4e-7f1f3f9b2c10',
      rule: 'card_testing',
      severity: 'CRITICAL',
      state: 'FIRING',
      entity_level: 'TERMINAL',
      entity_id: 'T0000003',
      window_start: Date.now() - 60_000,
      window_end: Date.now(),
      fired_time: Date.now(),
      resolved_time: null,
      summary: 'injected by the wall test: 9 small declines on 7 cards',
      value: 9,
      threshold: 6,
      evidence: {},
      labels: {},
    } as unknown as Alert;
    await producer.send(topics.alerts, 'Alert', [{ key: 'card_testing:TERMINAL:T0000003', value: alert }]);
    await page.waitForSelector('#ticker li[data-rule="card_testing"]', { timeout: 15_000 });
    expect(await page.textContent('#ticker')).toContain('injected by the wall test');

    // The service drops every connection (as a restart would): the page says so, reconnects by
    // itself and resumes where it was.
    live.hub.disconnectAll('test: connections dropped');
    await page.waitForSelector('#link.connecting', { timeout: 5_000 });
    await page.waitForSelector('#link.live', { timeout: 15_000 });
    // Still live past the stale threshold (3 s): summaries flow on the new connection.
    await new Promise((r) => setTimeout(r, 4_000));
    expect(await page.getAttribute('#link', 'class')).toBe('badge live');
    expect(await page.locator('#grid .cell').count()).toBe(TERMINALS);

    const artifacts = path.join(repoRoot, 'test-artifacts');
    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: path.join(artifacts, 'wall-1080p.png') });
    await page.setViewportSize({ width: 3840, height: 2160 });
    await page.screenshot({ path: path.join(artifacts, 'wall-4k.png') });
    expect(errors).toEqual([]);
    await page.close();
  }, 240_000);
});
