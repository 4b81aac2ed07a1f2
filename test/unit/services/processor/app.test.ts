import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../../services/shared/logger.ts';
import { createMetricsRegistry } from '../../../../services/shared/metrics.ts';
import { buildProcessorApp } from '../../../../services/processor/app.ts';
import { parseProcessorConfig } from '../../../../services/processor/config.ts';

function build(ready = true) {
  return buildProcessorApp(
    {
      logger: createLogger({ service: 'processor', level: 'silent' }),
      metrics: createMetricsRegistry('processor', false),
      ready: async () => ({ ready, checks: { kafka: ready, clickhouse: true } }),
    },
    { metricsToken: 'metrics-secret-1' },
  );
}

describe('processor HTTP endpoints', () => {
  it('answers probes without a token, with the state of each dependency', async () => {
    expect((await build().inject({ url: '/healthz' })).statusCode).toBe(200);
    const up = await build(true).inject({ url: '/readyz' });
    expect(up.json()).toEqual({ status: 'ready', kafka: true, clickhouse: true });
    const down = await build(false).inject({ url: '/readyz' });
    expect(down.statusCode).toBe(503);
    expect(down.json()).toMatchObject({ status: 'not ready', kafka: false });
  });

  it.each([[undefined], ['Bearer wrong'], ['Basic metrics-secret-1'], ['Bearer metrics-secret-1x']])(
    'refuses /metrics with authorization %s',
    async (authorization) => {
      const res = await build().inject({ url: '/metrics', headers: authorization ? { authorization } : {} });
      expect(res.statusCode).toBe(401);
    },
  );

  it('serves /metrics with the token', async () => {
    const res = await build().inject({
      url: '/metrics',
      headers: { authorization: 'Bearer metrics-secret-1' },
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
  });

  it('requires a metrics token and a sane fetch wait', () => {
    expect(() => parseProcessorConfig({})).toThrow(/PROCESSOR_METRICS_TOKEN/);
    expect(() =>
      parseProcessorConfig({ PROCESSOR_METRICS_TOKEN: 't', PROCESSOR_FETCH_MAX_WAIT: '5m' }),
    ).toThrow(/PROCESSOR_FETCH_MAX_WAIT/);
    expect(parseProcessorConfig({ PROCESSOR_METRICS_TOKEN: 't' })).toMatchObject({
      port: 8081,
      groupId: 'pospulse-processor',
      fetchMaxWaitMs: 1000,
    });
  });
});
