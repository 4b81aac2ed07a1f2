import type { TerminalHeartbeat, TransactionEvent } from '../shared/avro/types.generated.ts';

/** One event on its way to Kafka: the record, its partition key (terminal serial) and its id for deduplication. */
export type PublishItem =
  | { schema: 'TransactionEvent'; eventId: string; key: string; value: TransactionEvent }
  | { schema: 'TerminalHeartbeat'; eventId: string; key: string; value: TerminalHeartbeat };

/** `accepted`: on Kafka now. `duplicate`: the same event_id was already put on Kafka within the dedupe window. */
export type PublishResult = 'accepted' | 'duplicate';

export interface PublishOptions {
  /** Give up (OverloadError `timeout`) after this long; the publisher's default when omitted. */
  timeoutMs?: number;
}

/**
 * Where both doors (HTTP and ISO 8583) hand their events. `publish` resolves, one result per item in
 * order, only once every item is acknowledged by Kafka (acks=all) or known as a duplicate. It
 * rejects with OverloadError (`queue_full` at once, `timeout` at the deadline) or ShutdownError;
 * then nothing may be reported as accepted, though some items may still reach Kafka later (a retry
 * with the same event_id is then answered `duplicate`).
 */
export interface EventSink {
  publish(items: readonly PublishItem[], options?: PublishOptions): Promise<PublishResult[]>;
}
