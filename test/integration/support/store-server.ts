import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { Store } from '../../../services/shared/clickhouse/store.ts';
import { createLogger } from '../../../services/shared/logger.ts';
import { startEmbeddedStore } from '../../../services/store/embedded.ts';
import { parseUsers } from '../../../services/store/users.ts';

export type Who = 'service' | 'analyst';

export const TEST_USERS = {
  service: { username: 'svc', password: 'svc-password-1' },
  analyst: { username: 'ana', password: 'ana-password-1' },
} as const;

export interface RunningStore {
  readonly url: string;
  readonly dataDir: string;
  /** A client as `who`; closed with the store. */
  client(who?: Who, extra?: Parameters<typeof createClient>[0]): ClickHouseClient;
  store(who?: Who): Store;
  close(): Promise<void>;
}

export interface StoreServerOptions {
  /** Users JSON; defaults to one service user and one analyst (TEST_USERS). */
  users?: string;
  maxQueued?: number;
  queueTimeoutMs?: number;
  /** Reopen this data directory (a restart); the caller owns it, so close() leaves it in place. */
  dataDir?: string;
}

/**
 * The store service on a free port over a fresh data directory, in this test process. Vitest
 * runs each integration file in its own process (forks pool), so each owns its engine.
 */
export async function startStoreServer(options: StoreServerOptions = {}): Promise<RunningStore> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'pospulse-store-test-'));
  const users = parseUsers(
    options.users ??
      JSON.stringify([
        { name: TEST_USERS.service.username, password: TEST_USERS.service.password, role: 'service' },
        {
          name: TEST_USERS.analyst.username,
          password: TEST_USERS.analyst.password,
          role: 'analyst',
          max_execution_time: '5s',
          max_result_rows: 2_000_000,
        },
      ]),
  );
  const server = await startEmbeddedStore({
    host: '127.0.0.1',
    port: 0,
    dataDir,
    users,
    logger: createLogger({ service: 'store-test', level: 'silent' }),
    maxQueryBytes: 16 * 1024 * 1024,
    maxInsertBytes: 1024 ** 3,
    maxQueued: options.maxQueued ?? 64,
    queueTimeoutMs: options.queueTimeoutMs ?? 30_000,
  });
  const address = server.url;
  const clients: ClickHouseClient[] = [];
  const client = (who: Who = 'service', extra: Parameters<typeof createClient>[0] = {}) => {
    // The client logs every failed query at ERROR; tests provoke many on purpose.
    const c = createClient({
      url: address,
      ...TEST_USERS[who],
      request_timeout: 120_000,
      log: { level: ClickHouseLogLevel.OFF },
      ...extra,
    });
    clients.push(c);
    return c;
  };
  return {
    url: address,
    dataDir,
    client,
    store: (who: Who = 'service') => new Store(client(who)),
    async close() {
      for (const c of clients) await c.close();
      await server.close();
      if (options.dataDir === undefined) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The ClickHouse error code a refused call carries (the client's ClickHouseError `code`). */
export async function errorCode(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return String((err as { code?: unknown }).code);
  }
  throw new Error('the statement was accepted');
}
