import { parseClickHouseConfig } from '../shared/clickhouse/config.ts';
import { createStore } from '../shared/clickhouse/store.ts';
import { createLogger, parseLoggingConfig } from '../shared/logger.ts';
import { createMetricsRegistry } from '../shared/metrics.ts';
import { processorTables } from '../processor/tables.ts';
import { buildApiApp } from './app.ts';
import { parseApiConfig } from './config.ts';

const logger = createLogger({ service: 'api', ...parseLoggingConfig(process.env) });

let configs;
try {
  configs = { api: parseApiConfig(process.env), clickhouse: parseClickHouseConfig(process.env) };
} catch (err) {
  logger.fatal({ code: (err as { code?: string }).code }, (err as Error).message);
  process.exit(2);
}

const store = createStore(configs.clickhouse);
const tables = processorTables(configs.clickhouse.database);
const { app } = buildApiApp(
  {
    logger,
    metrics: createMetricsRegistry('api'),
    store,
    tables,
  },
  configs.api,
);
try {
  await app.listen({ host: configs.api.host, port: configs.api.port });
} catch (err) {
  logger.fatal({ err }, 'api could not start');
  process.exit(1);
}
logger.info({ url: `http://${configs.api.host}:${configs.api.port}`, docs: '/docs' }, 'api listening');

let stopping = false;
async function stop(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'api stopping');
  await app.close();
  await store.close();
  logger.info('api stopped');
  process.exit(0);
}
process.on('SIGTERM', () => void stop('SIGTERM'));
process.on('SIGINT', () => void stop('SIGINT'));
