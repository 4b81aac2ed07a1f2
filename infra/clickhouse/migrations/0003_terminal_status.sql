-- Terminal status as the processor publishes it on the compacted topic terminal-status: one row per
-- TerminalStatus record, one column per Avro field under the field's name (rows built by
-- services/processor/status/rows.ts). Explained for analysts in docs/TERMINAL_STATUS.md.
--
-- * terminal_status: the history of changes, kept as long as the raw events (CLICKHOUSE_RAW_TTL).
-- * terminal_status_latest: one row per terminal, its current status; filled by a materialized view
--   from every insert into terminal_status, so the processor writes each record once.
--
-- Same column choices as 0001_raw_events.sql: enums are LowCardinality(String), integers keep the
-- Avro width, Nullable exactly where the Avro field is optional. version is UInt64 because
-- ReplacingMergeTree takes only an unsigned integer or a date as its version column (versions are
-- >= 1).

CREATE TABLE IF NOT EXISTS {{table:terminal_status}}{{on_cluster}}
(
    terminal_serial String,
    merchant_id LowCardinality(Nullable(String)),
    merchant_name LowCardinality(Nullable(String)),
    region LowCardinality(Nullable(String)),
    acquirer_id LowCardinality(Nullable(String)),
    latitude Nullable(Float64),
    longitude Nullable(Float64),
    status LowCardinality(String),
    reasons Array(LowCardinality(String)),
    since DateTime64(3, 'UTC'),
    last_seen_time DateTime64(3, 'UTC'),
    last_heartbeat_time Nullable(DateTime64(3, 'UTC')),
    last_transaction_time Nullable(DateTime64(3, 'UTC')),
    reported_online Nullable(Bool),
    battery_pct Nullable(Int32),
    paper_state LowCardinality(String),
    signal_strength_dbm Nullable(Int32),
    connection_type LowCardinality(String),
    offline_queue_length Nullable(Int32),
    firmware_version LowCardinality(Nullable(String)),
    app_version LowCardinality(Nullable(String)),
    recent_tx_count Int32,
    recent_decline_share Nullable(Float64),
    recent_timeout_share Nullable(Float64),
    version UInt64,
    updated_time DateTime64(3, 'UTC'),
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
-- Replacing: the processor delivers at least once; a re-delivered record has the same version and
-- the same sort key, so merges (or FINAL) keep one copy.
ENGINE = {{engine:terminal_status:ReplacingMergeTree}}
PARTITION BY toDate(updated_time)
-- Read per terminal over time ("what happened to this terminal today").
PRIMARY KEY (terminal_serial, updated_time)
ORDER BY (terminal_serial, updated_time, version)
TTL toDate(updated_time) + INTERVAL {{raw_ttl_days}} DAY
-- A deduplication window, as 0004 gives the raw tables, so a writer can retry an INSERT with the
-- same insert_deduplication_token and have the repeat dropped (and not copied to the latest table).
SETTINGS ttl_only_drop_parts = 1, non_replicated_deduplication_window = 1000;

{{distributed:terminal_status:cityHash64(terminal_serial)}};

-- No partitions and no TTL: one row per terminal (after merges) is small, and a terminal that has
-- been OFFLINE for months is still a fact about the fleet. The highest version wins; query it with
-- FINAL (or argMax) because merges happen in the background.
CREATE TABLE IF NOT EXISTS {{table:terminal_status_latest}}{{on_cluster}}
(
    terminal_serial String,
    merchant_id LowCardinality(Nullable(String)),
    merchant_name LowCardinality(Nullable(String)),
    region LowCardinality(Nullable(String)),
    acquirer_id LowCardinality(Nullable(String)),
    latitude Nullable(Float64),
    longitude Nullable(Float64),
    status LowCardinality(String),
    reasons Array(LowCardinality(String)),
    since DateTime64(3, 'UTC'),
    last_seen_time DateTime64(3, 'UTC'),
    last_heartbeat_time Nullable(DateTime64(3, 'UTC')),
    last_transaction_time Nullable(DateTime64(3, 'UTC')),
    reported_online Nullable(Bool),
    battery_pct Nullable(Int32),
    paper_state LowCardinality(String),
    signal_strength_dbm Nullable(Int32),
    connection_type LowCardinality(String),
    offline_queue_length Nullable(Int32),
    firmware_version LowCardinality(Nullable(String)),
    app_version LowCardinality(Nullable(String)),
    recent_tx_count Int32,
    recent_decline_share Nullable(Float64),
    recent_timeout_share Nullable(Float64),
    version UInt64,
    updated_time DateTime64(3, 'UTC'),
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = {{engine:terminal_status_latest:ReplacingMergeTree(version)}}
ORDER BY terminal_serial;

{{distributed:terminal_status_latest:cityHash64(terminal_serial)}};

-- On a cluster the view sits on each shard's local table and writes to the local latest table: the
-- Distributed terminal_status routes a terminal's rows to one shard (by the same key as above), so
-- each terminal's latest row lives on one shard too. The column list is explicit: it is what the
-- view copies, and a column added later to both tables needs the view recreated anyway.
CREATE MATERIALIZED VIEW IF NOT EXISTS {{table:terminal_status_latest_mv}}{{on_cluster}}
TO {{table:terminal_status_latest}}
AS SELECT
    terminal_serial, merchant_id, merchant_name, region, acquirer_id, latitude, longitude, status,
    reasons, since, last_seen_time, last_heartbeat_time, last_transaction_time, reported_online,
    battery_pct, paper_state, signal_strength_dbm, connection_type, offline_queue_length,
    firmware_version, app_version, recent_tx_count, recent_decline_share, recent_timeout_share,
    version, updated_time, ingested_at
FROM {{table:terminal_status}};
