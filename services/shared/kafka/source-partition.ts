import type { IHeaders } from 'kafkajs';

/** Header naming the `transactions` partition a KpiUpdate was computed from. */
export const SOURCE_PARTITION_HEADER = 'pospulse-source-partition';

/** The `transactions` partition a KpiUpdate was computed from, or null without a valid header. */
export function sourcePartitionOf(record: { headers?: IHeaders | undefined }): number | null {
  const raw = record.headers?.[SOURCE_PARTITION_HEADER];
  const text = Buffer.isBuffer(raw) ? raw.toString() : typeof raw === 'string' ? raw : undefined;
  if (text === undefined || !/^\d{1,9}$/.test(text)) return null;
  return Number(text);
}
