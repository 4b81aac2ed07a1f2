import { join } from 'node:path';
import type { Logger } from '../shared/logger.ts';
import { createMetricsRegistry } from '../shared/metrics.ts';
import { buildStore } from './app.ts';
import type { StoreConfig } from './config.ts';
import { Engine } from './engine.ts';
import { IssuedUsers } from './issued-users.ts';

/** Where the users created over SQL are kept, inside the data directory (docs/STORE.md). */
export const ISSUED_USERS_FILE = 'pospulse-issued-users.json';

export type EmbeddedStoreOptions = Pick<
  StoreConfig,
  'host' | 'port' | 'users' | 'maxQueryBytes' | 'maxInsertBytes' | 'maxQueued' | 'queueTimeoutMs'
> & { dataDir: string; logger: Logger };

export interface EmbeddedStore {
  /** Base URL of the HTTP interface, e.g. http://127.0.0.1:8124. */
  readonly url: string;
  readonly engine: Engine;
  /** Stops accepting, lets queries in flight finish, releases the data directory. */
  close(): Promise<void>;
}

/** Opens the engine on `dataDir` and serves it over HTTP in this process (main.ts, tests, benchmarks). */
export async function startEmbeddedStore(o: EmbeddedStoreOptions): Promise<EmbeddedStore> {
  const issuedUsers = await IssuedUsers.load(join(o.dataDir, ISSUED_USERS_FILE), o.users);
  const engine = new Engine(o.dataDir);
  engine.open();
  if (!(await engine.ready())) {
    await engine.close();
    throw new Error(`the ClickHouse engine did not open its data directory ${o.dataDir}`);
  }
  const app = buildStore(
    { engine, issuedUsers, logger: o.logger, metrics: createMetricsRegistry('store') },
    o,
  );
  try {
    const url = await app.listen({ host: o.host, port: o.port });
    return {
      url,
      engine,
      async close() {
        await app.close();
        await engine.close();
      },
    };
  } catch (err) {
    await engine.close();
    throw err;
  }
}
