import Fastify, { LogController } from 'fastify';
import { probes } from '../shared/http/probes.ts';
import type { Logger } from '../shared/logger.ts';
import type { Registry } from '../shared/metrics.ts';

export interface ProcessorAppDeps {
  logger: Logger;
  metrics: Registry;
  /** Kafka consumer running and ClickHouse answering. */
  ready: () => Promise<{ ready: boolean; checks: Record<string, boolean> }>;
}

/** The processor's HTTP side: probes (no auth, no data) and `/metrics` (bearer token). */
export function buildProcessorApp(deps: ProcessorAppDeps, config: { metricsToken: string }) {
  const app = Fastify({
    loggerInstance: deps.logger,
    logController: new LogController({ disableRequestLogging: true }),
  });
  void app.register(
    probes({
      metrics: deps.metrics,
      ready: deps.ready,
      tokens: [config.metricsToken],
      realm: 'pospulse-processor',
    }),
  );
  return app;
}
