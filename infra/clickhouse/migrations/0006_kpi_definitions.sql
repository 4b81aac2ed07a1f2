-- User-defined KPIs (docs/API.md "KPI definitions"), written by the api, read by the api
-- (`/v1/kpis`) and by the processor (thresholds -> alerts). One row per change of a definition;
-- the highest version is the current one, a deleted definition keeps a tombstone row
-- (deleted = 1). Read with FINAL.
--
-- ClickHouse holds them, not a separate database: every service already reaches it, the
-- definitions are few and change rarely, and analysts can join them with the KPIs in SQL.

CREATE TABLE IF NOT EXISTS {{table:kpi_definitions}}{{on_cluster}}
(
    name String,
    definition String,
    deleted UInt8,
    version UInt64,
    updated_by String,
    updated_time DateTime64(3, 'UTC')
)
ENGINE = {{engine:kpi_definitions:ReplacingMergeTree(version)}}
ORDER BY name;

{{distributed:kpi_definitions:cityHash64(name)}};
