-- Analyst SQL credentials the api issued and revoked (docs/ANALYSTS.md); rows built by
-- services/api/analyst-credentials.ts. The credentials themselves are ClickHouse users (CREATE
-- USER on a server, the store's own user file when embedded); this table is the record of who
-- issued which, when, why, and when it was revoked. No password or hash is ever stored here.
--
-- One row per state of a credential: version 1 when issued, 2 when revoked. A name may be issued
-- again after it was revoked, so a credential is (user_name, issued_time). Read with FINAL.

CREATE TABLE IF NOT EXISTS {{table:analyst_credentials}}{{on_cluster}}
(
    user_name String,
    note String,
    issued_by String,
    issued_time DateTime64(3, 'UTC'),
    max_execution_time_s UInt32,
    max_result_rows UInt64,
    max_result_bytes UInt64,
    revoked_by Nullable(String),
    revoked_time Nullable(DateTime64(3, 'UTC')),
    version UInt64
)
-- No TTL: who had SQL access, and when, stays on record.
ENGINE = {{engine:analyst_credentials:ReplacingMergeTree(version)}}
ORDER BY (user_name, issued_time);

{{distributed:analyst_credentials:cityHash64(user_name)}};
