import { parseLoggingConfig, createLogger } from '../logger.ts';
import { parseClickHouseConfig } from './config.ts';
import { parseMigrationsConfig } from './migrations-config.ts';
import { runMigrations } from './migrations.ts';
import { createStore } from './store.ts';

// Applies the pending ClickHouse migrations (infra/clickhouse/migrations) to CLICKHOUSE_DATABASE
// and prints what it did. Safe to run again: applied migrations are skipped.
const logger = createLogger({ service: 'migrate', ...parseLoggingConfig(process.env) });
try {
  const clickhouse = parseClickHouseConfig(process.env);
  const migrations = parseMigrationsConfig(process.env);
  // Connect to `default`: CLICKHOUSE_DATABASE may not exist yet, and every statement names it.
  const store = createStore({ ...clickhouse, database: 'default' });
  try {
    const report = await runMigrations(store, {
      database: clickhouse.database,
      cluster: migrations.cluster,
      rawTtlDays: migrations.rawTtlDays,
      logger,
    });
    logger.info(
      { database: clickhouse.database, cluster: migrations.cluster ?? null, ...report },
      'migrations done',
    );
  } finally {
    await store.close();
  }
} catch (err) {
  logger.error({ err }, 'migrations failed');
  process.exitCode = 1;
}
