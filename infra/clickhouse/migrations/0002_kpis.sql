-- KPI windows and late events written by the stream processor, and the 5m/15m/1h views analysts
-- read. Rendered and applied by services/shared/clickhouse/migrations.ts; every KPI is defined in
-- docs/KPIS.md, the rows are built by services/processor/kpi/rows.ts.

-- One row per (level, entity, 1-minute window, source partition) and version. The processor
-- computes windows per Kafka partition of `transactions`: a terminal lives in one partition, but a
-- merchant, region, acquirer or the fleet spans several, so each partition writes its partial of
-- that entity's minute under its own key (source_partition) and the views add the partials up.
-- Keying on (level, entity, window) alone would let one partition's partial replace another's.
--
-- ReplacingMergeTree(version): a window is written again each time it changes, and again after a
-- replay. version = 2 x tx_count + is_final, so the highest version is the most complete row and a
-- final row outranks every non-final one; equal versions are equal content (emitted_time aside).
-- Read with FINAL (or argMax by version) for one row per key.
CREATE TABLE IF NOT EXISTS {{table:kpi_1m}}{{on_cluster}}
(
    entity_level LowCardinality(String),
    entity_id String,
    window_start DateTime64(3, 'UTC'),
    window_end DateTime64(3, 'UTC'),
    window_size_ms UInt32,
    source_partition UInt32,
    version UInt64,
    is_final Bool,
    tx_count UInt64,
    approved_count UInt64,
    declined_count UInt64,
    timeout_count UInt64,
    reversal_count UInt64,
    refund_count UInt64,
    approval_rate Nullable(Float64),
    declines_by_code Map(String, UInt64),
    -- KpiUpdate.amounts as two maps keyed by currency, so sumMap rolls them up; amounts in
    -- different currencies are never added together.
    amount_sum_minor Map(String, Int64),
    amount_count Map(String, UInt64),
    tps Float64,
    -- Exact distinct card tokens in this partition's window.
    unique_cards UInt64,
    payment_method_mix Map(String, UInt64),
    entry_mode_mix Map(String, UInt64),
    -- Exact latency aggregates (responses, sum, max): what SQL can roll up. The percentiles come
    -- from the processor's DDSketch; ClickHouse cannot read or merge DDSketch bytes, so percentiles
    -- over several windows are computed by the processor (services/processor/kpi/rolling.ts), or
    -- from the raw table with quantileExact, never by averaging these columns.
    latency_count UInt64,
    latency_sum_ms UInt64,
    latency_max_ms Nullable(UInt64),
    latency_p50_ms Nullable(Float64),
    latency_p95_ms Nullable(Float64),
    latency_p99_ms Nullable(Float64),
    -- KpiUpdate.latency_sketch (DDSketch protobuf, relative accuracy 1 %), base64: base64Decode()
    -- gives the bytes for a DDSketch library.
    latency_sketch_base64 Nullable(String) CODEC(ZSTD(3)),
    -- Basket sums behind avg_basket_minor and discount_share, so rollups stay exact.
    basket_count UInt64,
    basket_gross_minor Int64,
    basket_discount_minor Int64,
    avg_basket_minor Nullable(Float64),
    discount_share Nullable(Float64),
    emitted_time DateTime64(3, 'UTC'),
    inserted_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = {{engine:kpi_1m:ReplacingMergeTree(version)}}
PARTITION BY toDate(window_start)
ORDER BY (entity_level, entity_id, window_start, source_partition)
TTL toDate(window_start) + INTERVAL {{raw_ttl_days}} DAY
SETTINGS ttl_only_drop_parts = 1;

-- Cluster: all partials and versions of an entity on one shard, so FINAL and the views' GROUP BY
-- see them together.
{{distributed:kpi_1m:cityHash64(entity_level, entity_id)}};

-- Events the processor routed away from the windows: reason `beyond_allowed_lateness` (their
-- window was already final) or `clock_ahead` (request_time too far after the gateway received
-- them). Key columns for analysts plus the event as JSON without its card fields.
--
-- ReplacingMergeTree rather than a plain MergeTree: a replay after a crash routes the same record
-- (same partition and offset) again, and the sort key ends with both, so merges keep one row.
-- Partitioned and expired by gateway_received_time, the gateway's clock: request_time is the
-- very thing that may be wrong here.
CREATE TABLE IF NOT EXISTS {{table:late_events}}{{on_cluster}}
(
    event_id UUID,
    terminal_serial String,
    merchant_id LowCardinality(String),
    acquirer_id LowCardinality(String),
    region LowCardinality(String),
    gateway_id LowCardinality(String),
    transaction_type LowCardinality(String),
    status LowCardinality(String),
    amount_minor Int64,
    currency LowCardinality(String),
    request_time DateTime64(3, 'UTC'),
    response_time Nullable(DateTime64(3, 'UTC')),
    gateway_received_time DateTime64(3, 'UTC'),
    reason LowCardinality(String),
    -- The 1-minute window request_time falls in, and the partition's watermark when the event
    -- was classified (null before the partition's first folded event).
    window_start DateTime64(3, 'UTC'),
    watermark Nullable(DateTime64(3, 'UTC')),
    source_partition UInt32,
    source_offset Int64,
    event_json String CODEC(ZSTD(3)),
    detected_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = {{engine:late_events:ReplacingMergeTree}}
PARTITION BY toDate(gateway_received_time)
ORDER BY (reason, merchant_id, terminal_serial, gateway_received_time, source_partition, source_offset)
TTL toDate(gateway_received_time) + INTERVAL {{raw_ttl_days}} DAY
SETTINGS ttl_only_drop_parts = 1;

{{distributed:late_events:cityHash64(terminal_serial)}};

-- 5-minute, 15-minute and 1-hour KPIs for SQL analysis: tumbling buckets (aligned to the epoch,
-- UTC) over kpi_1m FINAL, partitions' partials and minutes added up. Counts, sums, mixes and the
-- ratios derived from them are exact. Not here:
-- * latency percentiles: ClickHouse cannot merge DDSketch bytes, and averaging minute percentiles
--   is not a percentile; latency_avg_ms and latency_max_ms are exact. For percentiles use the
--   processor's rolling views or quantileExact over the raw `transactions`.
-- * exact unique cards: distinct counts do not add up across minutes or partitions;
--   unique_cards_lower_bound is the largest partial's count. uniqExact(card_token) over
--   `transactions` gives the exact figure.
-- is_final is true when every partial in the bucket is final. Filter on entity_level, entity_id
-- and window_start: the views aggregate whatever rows the filter leaves.
CREATE VIEW IF NOT EXISTS {{database}}.kpi_5m{{on_cluster}} AS
SELECT
    entity_level,
    entity_id,
    bucket AS window_start,
    bucket + INTERVAL 5 MINUTE AS window_end,
    300000 AS window_size_ms,
    minutes_with_data,
    partials,
    is_final,
    tx_count,
    approved_count,
    declined_count,
    timeout_count,
    reversal_count,
    refund_count,
    if(tx_count = 0, NULL, approved_count / tx_count) AS approval_rate,
    declines_by_code,
    amount_sum_minor,
    amount_count,
    mapApply((currency, total) -> (currency, total / amount_count[currency]), amount_sum_minor) AS amount_avg_minor,
    tx_count / 300 AS tps,
    unique_cards_lower_bound,
    payment_method_mix,
    entry_mode_mix,
    latency_count,
    if(latency_count = 0, NULL, latency_sum_ms / latency_count) AS latency_avg_ms,
    latency_max_ms,
    basket_count,
    basket_gross_minor,
    basket_discount_minor,
    if(basket_count = 0, NULL, basket_gross_minor / basket_count) AS avg_basket_minor,
    if(basket_count = 0 OR basket_gross_minor <= 0, NULL,
       least(1., greatest(0., basket_discount_minor / basket_gross_minor))) AS discount_share
FROM
(
    SELECT
        entity_level,
        entity_id,
        toStartOfInterval(window_start, INTERVAL 5 MINUTE) AS bucket,
        uniqExact(window_start) AS minutes_with_data,
        count() AS partials,
        min(is_final) AS is_final,
        sum(tx_count) AS tx_count,
        sum(approved_count) AS approved_count,
        sum(declined_count) AS declined_count,
        sum(timeout_count) AS timeout_count,
        sum(reversal_count) AS reversal_count,
        sum(refund_count) AS refund_count,
        sumMap(declines_by_code) AS declines_by_code,
        sumMap(amount_sum_minor) AS amount_sum_minor,
        sumMap(amount_count) AS amount_count,
        max(unique_cards) AS unique_cards_lower_bound,
        sumMap(payment_method_mix) AS payment_method_mix,
        sumMap(entry_mode_mix) AS entry_mode_mix,
        sum(latency_count) AS latency_count,
        sum(latency_sum_ms) AS latency_sum_ms,
        max(latency_max_ms) AS latency_max_ms,
        sum(basket_count) AS basket_count,
        sum(basket_gross_minor) AS basket_gross_minor,
        sum(basket_discount_minor) AS basket_discount_minor
    FROM {{database}}.kpi_1m FINAL
    GROUP BY entity_level, entity_id, bucket
);

CREATE VIEW IF NOT EXISTS {{database}}.kpi_15m{{on_cluster}} AS
SELECT
    entity_level,
    entity_id,
    bucket AS window_start,
    bucket + INTERVAL 15 MINUTE AS window_end,
    900000 AS window_size_ms,
    minutes_with_data,
    partials,
    is_final,
    tx_count,
    approved_count,
    declined_count,
    timeout_count,
    reversal_count,
    refund_count,
    if(tx_count = 0, NULL, approved_count / tx_count) AS approval_rate,
    declines_by_code,
    amount_sum_minor,
    amount_count,
    mapApply((currency, total) -> (currency, total / amount_count[currency]), amount_sum_minor) AS amount_avg_minor,
    tx_count / 900 AS tps,
    unique_cards_lower_bound,
    payment_method_mix,
    entry_mode_mix,
    latency_count,
    if(latency_count = 0, NULL, latency_sum_ms / latency_count) AS latency_avg_ms,
    latency_max_ms,
    basket_count,
    basket_gross_minor,
    basket_discount_minor,
    if(basket_count = 0, NULL, basket_gross_minor / basket_count) AS avg_basket_minor,
    if(basket_count = 0 OR basket_gross_minor <= 0, NULL,
       least(1., greatest(0., basket_discount_minor / basket_gross_minor))) AS discount_share
FROM
(
    SELECT
        entity_level,
        entity_id,
        toStartOfInterval(window_start, INTERVAL 15 MINUTE) AS bucket,
        uniqExact(window_start) AS minutes_with_data,
        count() AS partials,
        min(is_final) AS is_final,
        sum(tx_count) AS tx_count,
        sum(approved_count) AS approved_count,
        sum(declined_count) AS declined_count,
        sum(timeout_count) AS timeout_count,
        sum(reversal_count) AS reversal_count,
        sum(refund_count) AS refund_count,
        sumMap(declines_by_code) AS declines_by_code,
        sumMap(amount_sum_minor) AS amount_sum_minor,
        sumMap(amount_count) AS amount_count,
        max(unique_cards) AS unique_cards_lower_bound,
        sumMap(payment_method_mix) AS payment_method_mix,
        sumMap(entry_mode_mix) AS entry_mode_mix,
        sum(latency_count) AS latency_count,
        sum(latency_sum_ms) AS latency_sum_ms,
        max(latency_max_ms) AS latency_max_ms,
        sum(basket_count) AS basket_count,
        sum(basket_gross_minor) AS basket_gross_minor,
        sum(basket_discount_minor) AS basket_discount_minor
    FROM {{database}}.kpi_1m FINAL
    GROUP BY entity_level, entity_id, bucket
);

CREATE VIEW IF NOT EXISTS {{database}}.kpi_1h{{on_cluster}} AS
SELECT
    entity_level,
    entity_id,
    bucket AS window_start,
    bucket + INTERVAL 1 HOUR AS window_end,
    3600000 AS window_size_ms,
    minutes_with_data,
    partials,
    is_final,
    tx_count,
    approved_count,
    declined_count,
    timeout_count,
    reversal_count,
    refund_count,
    if(tx_count = 0, NULL, approved_count / tx_count) AS approval_rate,
    declines_by_code,
    amount_sum_minor,
    amount_count,
    mapApply((currency, total) -> (currency, total / amount_count[currency]), amount_sum_minor) AS amount_avg_minor,
    tx_count / 3600 AS tps,
    unique_cards_lower_bound,
    payment_method_mix,
    entry_mode_mix,
    latency_count,
    if(latency_count = 0, NULL, latency_sum_ms / latency_count) AS latency_avg_ms,
    latency_max_ms,
    basket_count,
    basket_gross_minor,
    basket_discount_minor,
    if(basket_count = 0, NULL, basket_gross_minor / basket_count) AS avg_basket_minor,
    if(basket_count = 0 OR basket_gross_minor <= 0, NULL,
       least(1., greatest(0., basket_discount_minor / basket_gross_minor))) AS discount_share
FROM
(
    SELECT
        entity_level,
        entity_id,
        toStartOfInterval(window_start, INTERVAL 1 HOUR) AS bucket,
        uniqExact(window_start) AS minutes_with_data,
        count() AS partials,
        min(is_final) AS is_final,
        sum(tx_count) AS tx_count,
        sum(approved_count) AS approved_count,
        sum(declined_count) AS declined_count,
        sum(timeout_count) AS timeout_count,
        sum(reversal_count) AS reversal_count,
        sum(refund_count) AS refund_count,
        sumMap(declines_by_code) AS declines_by_code,
        sumMap(amount_sum_minor) AS amount_sum_minor,
        sumMap(amount_count) AS amount_count,
        max(unique_cards) AS unique_cards_lower_bound,
        sumMap(payment_method_mix) AS payment_method_mix,
        sumMap(entry_mode_mix) AS entry_mode_mix,
        sum(latency_count) AS latency_count,
        sum(latency_sum_ms) AS latency_sum_ms,
        max(latency_max_ms) AS latency_max_ms,
        sum(basket_count) AS basket_count,
        sum(basket_gross_minor) AS basket_gross_minor,
        sum(basket_discount_minor) AS basket_discount_minor
    FROM {{database}}.kpi_1m FINAL
    GROUP BY entity_level, entity_id, bucket
);
