-- Fraud and anomaly detection output of the stream processor (docs/DETECTION.md); rows built by
-- services/processor/detection/rows.ts.
--
-- * flags: one row per rule hit — the evidence analysts and the api look at. While an alert is
--   open its rule keeps hitting; the processor writes at most one flag per alert per minute of
--   event time, so a long attack does not flood the table.
-- * alerts: one row per Alert record (FIRING, then RESOLVED) under its alert_id; the highest
--   version (1 firing, 2 resolved) is the alert's current state. Read with FINAL.
--
-- flag_id and alert_id are derived from the rule, the entity and the evidence, so a replay after a
-- crash writes the same ids and ReplacingMergeTree keeps one row each.

CREATE TABLE IF NOT EXISTS {{table:flags}}{{on_cluster}}
(
    flag_id UUID,
    alert_id UUID,
    rule LowCardinality(String),
    severity LowCardinality(String),
    entity_level LowCardinality(String),
    entity_id String,
    window_start DateTime64(3, 'UTC'),
    window_end DateTime64(3, 'UTC'),
    value Nullable(Float64),
    threshold Nullable(Float64),
    summary String,
    evidence Map(String, String),
    event_ids Array(String),
    labels Map(LowCardinality(String), String),
    source_partition UInt32,
    detected_time DateTime64(3, 'UTC')
)
ENGINE = {{engine:flags:ReplacingMergeTree}}
PARTITION BY toDate(window_end)
ORDER BY (rule, entity_level, entity_id, window_end, flag_id)
TTL toDate(window_end) + INTERVAL {{raw_ttl_days}} DAY
SETTINGS ttl_only_drop_parts = 1;

{{distributed:flags:cityHash64(entity_id)}};

CREATE TABLE IF NOT EXISTS {{table:alerts}}{{on_cluster}}
(
    alert_id UUID,
    rule LowCardinality(String),
    severity LowCardinality(String),
    state LowCardinality(String),
    entity_level LowCardinality(String),
    entity_id String,
    window_start DateTime64(3, 'UTC'),
    window_end DateTime64(3, 'UTC'),
    fired_time DateTime64(3, 'UTC'),
    resolved_time Nullable(DateTime64(3, 'UTC')),
    summary String,
    value Nullable(Float64),
    threshold Nullable(Float64),
    evidence Map(String, String),
    labels Map(LowCardinality(String), String),
    source_partition UInt32,
    version UInt64,
    updated_time DateTime64(3, 'UTC')
)
-- No TTL: an alert's history stays a fact; resolved alerts are small.
ENGINE = {{engine:alerts:ReplacingMergeTree(version)}}
ORDER BY alert_id;

{{distributed:alerts:cityHash64(alert_id)}};
