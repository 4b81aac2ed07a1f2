import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { createLogger, parseLoggingConfig } from '../shared/logger.ts';
import { parseStoreConfig } from './config.ts';
import { startEmbeddedStore } from './embedded.ts';

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
const store = await startEmbeddedStore({ ...config, dataDir, logger });
logger.info(
  { url: store.url, dataDir, engine: store.engine.version, users: config.users.length },
  'store listening',
);

let stopping = false;
async function stop(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'store stopping: finishing queries in flight');
  await store.close();
  logger.info('store stopped');
  process.exit(0);
}
process.on('SIGTERM', () => void stop('SIGTERM'));
process.on('SIGINT', () => void stop('SIGINT'));
