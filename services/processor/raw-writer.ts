import type { TerminalHeartbeat, TransactionEvent } from '../shared/avro/types.generated.ts';
import type { Store } from '../shared/clickhouse/store.ts';
import { heartbeatRow, transactionRow } from '../shared/clickhouse/rows.ts';
import type { ConsumedRecord } from '../shared/kafka/consumer.ts';

/**
 * Writes one Kafka fetch of one partition as one INSERT into the raw table. The deduplication
 * token names the records exactly (topic, partition, first and last offset), so re-writing the same
 * fetch after a crash before the offset commit stores nothing new (migration 0004).
 */
export class RawWriter {
  constructor(
    private readonly store: Pick<Store, 'insert'>,
    private readonly tables: { transactions: string; heartbeats: string },
  ) {}

  async transactions(records: readonly ConsumedRecord<TransactionEvent>[]): Promise<void> {
    const token = dedupToken(records);
    if (token === undefined) return;
    await this.store.insert(
      this.tables.transactions,
      records.map((r) => transactionRow(r.value)),
      { dedupToken: token },
    );
  }

  async heartbeats(records: readonly ConsumedRecord<TerminalHeartbeat>[]): Promise<void> {
    const token = dedupToken(records);
    if (token === undefined) return;
    await this.store.insert(
      this.tables.heartbeats,
      records.map((r) => heartbeatRow(r.value)),
      { dedupToken: token },
    );
  }
}

export function dedupToken(
  records: readonly { topic: string; partition: number; offset: string }[],
): string | undefined {
  const first = records[0];
  const last = records.at(-1);
  if (!first || !last) return undefined;
  return `${first.topic}:${first.partition}:${first.offset}-${last.offset}`;
}
