-- The processor writes each Kafka fetch of a partition as one INSERT with
-- insert_deduplication_token = topic:partition:first-last offset. If it crashes after the INSERT
-- but before committing the offsets, the same records come again in the same batches and the
-- repeated INSERT is dropped by the server. That needs a deduplication window on the table:
-- replicated tables keep one by default (replicated_deduplication_window), plain MergeTree does
-- not. Batches that are cut differently on replay are still merged away by ReplacingMergeTree on
-- event_id (read with FINAL for exact counts; see docs/SQL.md).

ALTER TABLE {{table:transactions}}{{on_cluster}} MODIFY SETTING non_replicated_deduplication_window = 1000;

ALTER TABLE {{table:terminal_heartbeats}}{{on_cluster}} MODIFY SETTING non_replicated_deduplication_window = 1000;
