import type { AddressInfo } from 'node:net';
import type { Kafka } from 'kafkajs';
import { buildLiveApp, type LiveAppConfig } from '../../../services/live/app.ts';
import { parseLiveConfig } from '../../../services/live/config.ts';
import { LiveFeed } from '../../../services/live/feed.ts';
import type { AvroCodec } from '../../../services/shared/avro/codec.ts';
import type { TopicNames } from '../../../services/shared/kafka/topics.ts';
import type { Logger } from '../../../services/shared/logger.ts';
import { createMetricsRegistry } from '../../../services/shared/metrics.ts';

/**
 * The live service over the test's topics, listening on a free port, its fleet rebuilt: the
 * service's defaults with quick flushes, and `overrides` as the test needs.
 */
export async function openLive(opts: {
  kafka: Kafka;
  codec: AvroCodec;
  logger: Logger;
  topics: TopicNames;
  token: string;
  overrides?: Partial<LiveAppConfig>;
}): Promise<{
  live: ReturnType<typeof buildLiveApp>;
  feed: LiveFeed;
  origin: string;
  close: () => Promise<void>;
}> {
  const config = { ...parseLiveConfig({ LIVE_TOKENS: opts.token }), coalesceMs: 100, ...opts.overrides };
  const live = buildLiveApp(
    {
      logger: opts.logger,
      metrics: createMetricsRegistry('live', false),
      epoch: 'e-test',
      // Called once listening, when `feed` exists.
      rebuilt: () => feed.rebuilt,
    },
    config,
  );
  const feed = new LiveFeed(
    opts.kafka,
    opts.codec,
    {
      terminalStatus: opts.topics.terminalStatus,
      kpiUpdates: opts.topics.kpiUpdates,
      alerts: opts.topics.alerts,
    },
    live.handlers,
    { kpiLookbackMs: 15 * 60_000, recentAlerts: 50 },
    opts.logger,
    createMetricsRegistry('live-feed', false),
  );
  await live.app.listen({ host: '127.0.0.1', port: 0 });
  await feed.start();
  await feed.ready;
  return {
    live,
    feed,
    origin: `127.0.0.1:${(live.app.server.address() as AddressInfo).port}`,
    close: async () => {
      await live.app.close();
      await feed.stop();
    },
  };
}
