import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { createChdbConnection } from 'chdb/connection';

/**
 * A @clickhouse/client talking to the ClickHouse engine in this process (chDB) instead of HTTP.
 * chdb/connection implements the client's Connection interface at runtime, but its .d.ts files
 * are compiled against @clickhouse/client-common's own copies of the settings types, which tsc
 * treats as distinct from those @clickhouse/client bundles — hence the one cast.
 */
export function chdbClient(path: string): ClickHouseClient {
  const connection = createChdbConnection({ path }) as unknown as NonNullable<
    Parameters<typeof createClient>[0]
  >['connection'];
  return createClient({ connection });
}
