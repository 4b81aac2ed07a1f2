-- Subscriptions and their webhook deliveries (docs/API.md, "Subscriptions and webhooks"); rows
-- built by services/api/webhooks/subscription-store.ts.
--
-- * subscriptions: one row per change of a subscription; the highest version is current, and a
--   deleted one keeps a row with deleted = 1 (its deliveries still name it). The secret is stored
--   because every delivery is signed with it; the API returns it only when it creates it.
-- * webhook_deliveries: one row per state of a delivery (PENDING, then SUCCEEDED or DEAD); the
--   highest version is current. A PENDING row is written before the Kafka offset of its record is
--   committed, and the worker loads PENDING rows at start, so nothing accepted is lost.
-- * webhook_attempts: one row per HTTP attempt, appended, never changed.
--
-- Read subscriptions and webhook_deliveries with FINAL.

CREATE TABLE IF NOT EXISTS {{table:subscriptions}}{{on_cluster}}
(
    subscription_id UUID,
    name String,
    topic LowCardinality(String),
    filter String,
    delivery_type LowCardinality(String),
    url String,
    secret String,
    -- 0: the worker's default (API_WEBHOOK_MAX_ATTEMPTS).
    max_attempts UInt32,
    deleted UInt8,
    created_time DateTime64(3, 'UTC'),
    updated_time DateTime64(3, 'UTC'),
    version UInt64
)
ENGINE = {{engine:subscriptions:ReplacingMergeTree(version)}}
ORDER BY subscription_id;

{{distributed:subscriptions:cityHash64(subscription_id)}};

CREATE TABLE IF NOT EXISTS {{table:webhook_deliveries}}{{on_cluster}}
(
    delivery_id UUID,
    subscription_id UUID,
    event LowCardinality(String),
    -- The JSON body sent (the same on every attempt); never card data: alerts name card tokens only.
    payload String,
    state LowCardinality(String),
    attempts UInt32,
    next_attempt_time DateTime64(3, 'UTC'),
    last_status Nullable(UInt16),
    last_error String,
    created_time DateTime64(3, 'UTC'),
    updated_time DateTime64(3, 'UTC'),
    version UInt64
)
ENGINE = {{engine:webhook_deliveries:ReplacingMergeTree(version)}}
ORDER BY (subscription_id, delivery_id);

{{distributed:webhook_deliveries:cityHash64(subscription_id)}};

CREATE TABLE IF NOT EXISTS {{table:webhook_attempts}}{{on_cluster}}
(
    delivery_id UUID,
    subscription_id UUID,
    attempt UInt32,
    attempted_time DateTime64(3, 'UTC'),
    status Nullable(UInt16),
    error String,
    duration_ms UInt32
)
ENGINE = {{engine:webhook_attempts:MergeTree}}
ORDER BY (subscription_id, delivery_id, attempted_time);

{{distributed:webhook_attempts:cityHash64(subscription_id)}};
