import type { Store } from '../../../services/shared/clickhouse/store.ts';
import { startStoreServer } from './store-server.ts';

export interface TestStore {
  /** A Store as the service user, over HTTP to the store service. */
  store: Store;
  /** Closes the store service and removes everything it wrote. */
  close(): Promise<void>;
}

/**
 * A Store over the real ClickHouse engine for integration tests, reached the way every service
 * reaches it: @clickhouse/client over HTTP to the store service, which runs here on a free port
 * with its own data directory (one per test file: vitest forks a process per file).
 */
export async function openTestStore(): Promise<TestStore> {
  const server = await startStoreServer();
  return { store: server.store('service'), close: () => server.close() };
}
