-- Raw events as the gateways published them: one row per TransactionEvent / TerminalHeartbeat,
-- one column per Avro field under the field's name. Rendered and applied by
-- services/shared/clickhouse/migrations.ts; the design is explained in docs/CLICKHOUSE.md.
--
-- Shared choices:
-- * Avro enums are LowCardinality(String), not Enum8: the schemas let enums gain symbols (readers
--   fall back to UNKNOWN), and an Enum8 column would refuse every insert carrying a new symbol until
--   an ALTER ran. LowCardinality stores the same dictionary codes and filters as fast.
-- * Integers keep the Avro width (int -> Int32, long -> Int64) so every value the contract admits
--   is stored exactly; compression makes the unused high bits nearly free.
-- * ReplacingMergeTree: the processor delivers at least once, and a re-delivered event has the same
--   event_id and the same sort key, so merges (or SELECT ... FINAL) keep one copy.
-- * Daily partitions and a TTL on the partition day: with ttl_only_drop_parts a whole day's parts
--   are dropped at once instead of being rewritten row by row.

CREATE TABLE IF NOT EXISTS {{table:transactions}}{{on_cluster}}
(
    event_id UUID,
    terminal_serial String,
    merchant_id LowCardinality(String),
    merchant_name LowCardinality(String),
    acquirer_id LowCardinality(String),
    gateway_id LowCardinality(String),
    region LowCardinality(String),
    latitude Nullable(Float64),
    longitude Nullable(Float64),
    mcc LowCardinality(String),
    cashier_id LowCardinality(Nullable(String)),
    transaction_type LowCardinality(String),
    payment_method LowCardinality(String),
    entry_mode LowCardinality(String),
    amount_minor Int64,
    currency LowCardinality(String),
    card_token Nullable(String),
    card_token_key_id LowCardinality(Nullable(String)),
    card_bin LowCardinality(Nullable(String)),
    card_last4 Nullable(String),
    response_code LowCardinality(Nullable(String)),
    response_message LowCardinality(Nullable(String)),
    auth_code Nullable(String),
    status LowCardinality(String),
    request_time DateTime64(3, 'UTC'),
    response_time Nullable(DateTime64(3, 'UTC')),
    stan Nullable(String),
    rrn Nullable(String),
    ingest_channel LowCardinality(String),
    gateway_received_time DateTime64(3, 'UTC'),
    -- Basket (null in Avro when the terminal sent none): the scalars are Nullable, the arrays are
    -- empty. Items are one Array of named Tuples rather than Nested, whose on-disk shape depends on
    -- the session setting flatten_nested; each tuple element is still its own column stream, read
    -- as basket_items.sku etc., and ARRAY JOIN basket_items AS item gives one row per line.
    basket_item_count Nullable(Int32),
    basket_items Array(Tuple(sku String, quantity Int32, unit_price_minor Int64)),
    basket_discount_minor Nullable(Int64),
    basket_coupon_codes Array(String),
    -- Derived at insert so analysts need not repeat the arithmetic. Null when no response arrived.
    host_latency_ms Nullable(Int64) MATERIALIZED dateDiff('millisecond', request_time, response_time),
    -- Basket value before discount (sum of quantity x unit price); null without a basket.
    basket_gross_minor Nullable(Int64) MATERIALIZED
        if(basket_item_count IS NULL, NULL, arraySum(i -> i.quantity * i.unit_price_minor, basket_items)),
    -- When the row reached ClickHouse: ingested_at - gateway_received_time is the pipeline's lag.
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3),
    -- Terminal-only lookups cannot use the primary key (merchant_id comes first), but a terminal's
    -- rows are contiguous inside each part because a terminal belongs to one merchant, so a bloom
    -- filter per granule skips nearly everything else. Cheaper than a projection, which would store
    -- the table twice (and which ReplacingMergeTree handles only with deduplicate_merge_projection_mode).
    INDEX idx_terminal_serial terminal_serial TYPE bloom_filter(0.01) GRANULARITY 1
)
ENGINE = {{engine:transactions:ReplacingMergeTree}}
PARTITION BY toDate(request_time)
-- Merchant first: dashboards and analysts slice by merchant (and by terminal within it). The
-- primary index stops at request_time; event_id only makes the sort key unique for deduplication.
PRIMARY KEY (merchant_id, terminal_serial, request_time)
ORDER BY (merchant_id, terminal_serial, request_time, event_id)
TTL toDate(request_time) + INTERVAL {{raw_ttl_days}} DAY
SETTINGS ttl_only_drop_parts = 1;

-- Cluster variant only (renders to nothing on a single node): the table services query and insert,
-- spreading rows by terminal so a terminal's events, and their duplicates, stay on one shard.
{{distributed:transactions:cityHash64(terminal_serial)}};

CREATE TABLE IF NOT EXISTS {{table:terminal_heartbeats}}{{on_cluster}}
(
    event_id UUID,
    terminal_serial String,
    merchant_id LowCardinality(Nullable(String)),
    gateway_id LowCardinality(String),
    event_time DateTime64(3, 'UTC'),
    online Bool,
    firmware_version LowCardinality(String),
    app_version LowCardinality(String),
    battery_pct Nullable(Int32),
    paper_state LowCardinality(String),
    signal_strength_dbm Nullable(Int32),
    connection_type LowCardinality(String),
    last_error_code LowCardinality(Nullable(String)),
    offline_queue_length Int32,
    ingest_channel LowCardinality(String),
    gateway_received_time DateTime64(3, 'UTC'),
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = {{engine:terminal_heartbeats:ReplacingMergeTree}}
PARTITION BY toDate(event_time)
-- Heartbeats are read per terminal over time (last seen, battery and signal trends).
PRIMARY KEY (terminal_serial, event_time)
ORDER BY (terminal_serial, event_time, event_id)
TTL toDate(event_time) + INTERVAL {{raw_ttl_days}} DAY
SETTINGS ttl_only_drop_parts = 1;

{{distributed:terminal_heartbeats:cityHash64(terminal_serial)}};
