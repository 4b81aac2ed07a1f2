import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { createLogger, parseLoggingConfig } from '../shared/logger.ts';
import { createMetricsRegistry } from '../shared/metrics.ts';
import { buildStore } from './app.ts';
import { parseStoreConfig } from './config.ts';
import { Engine } from './engine.ts';

const logger = createLogger({ service: 'store', ...parseLoggingConfig(process.env) });
let config;
try {
  config = parseStoreConfig(process.env);
} catch (err) {
  logger.fatal({ code: (err as { code?: string }).code }, (err as Error).message);
  process.exit(2);
}

const dataDir = resolve(config.dataDir);
mkdirSync(dataDir, { recursive: true });
const engine = new Engine(dataDir);
engine.open();
if (!(await engine.ready())) {
  logger.fatal({ dataDir }, 'the ClickHouse engine did not open its data directory');
  process.exit(1);
}

const app = buildStore({ engine, logger, metrics: createMetricsRegistry('store') }, config);
await app.listen({ host: config.host, port: config.port });
logger.info(
  {
    url: `http://${config.host}:${config.port}`,
    dataDir,
    engine: engine.version,
    users: config.users.length,
  },
  'store listening',
);

let stopping = false;
async function stop(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'store stopping: finishing queries in flight');
  // Stop accepting, let running requests finish, then release the data directory.
  await app.close();
  await engine.close();
  logger.info('store stopped');
  process.exit(0);
}
process.on('SIGTERM', () => void stop('SIGTERM'));
process.on('SIGINT', () => void stop('SIGINT'));
