import {
  duration,
  int,
  list,
  optionalStr,
  parseConfig,
  port,
  str,
  type Env,
  type Var,
} from '../shared/config.ts';
import type { KpiLevel } from './kpi/window-state.ts';

export const processorSpec = {
  host: str({
    key: 'PROCESSOR_HOST',
    doc: 'Address of the health and metrics endpoint.',
    default: '127.0.0.1',
  }),
  port: port({ key: 'PROCESSOR_PORT', doc: 'Port of `/healthz`, `/readyz` and `/metrics`.', default: 8081 }),
  metricsToken: str({
    key: 'PROCESSOR_METRICS_TOKEN',
    secret: true,
    doc: 'Bearer token that `/metrics` requires (probes need none). Required: no endpoint is open.',
  }),
  groupId: str({
    key: 'PROCESSOR_GROUP_ID',
    doc: 'Kafka consumer group shared by all processor instances (they split the partitions).',
    default: 'pospulse-processor',
    pattern: /^[A-Za-z0-9._-]{1,200}$/,
  }),
  fetchMinBytes: int({
    key: 'PROCESSOR_FETCH_MIN_BYTES',
    doc: 'Bytes a fetch waits for (~10k events at 270 bytes each): with PROCESSOR_FETCH_MAX_WAIT this is the raw-insert batch threshold.',
    default: 2 * 1024 * 1024,
    min: 1,
  }),
  fetchMaxPartitionBytes: int({
    key: 'PROCESSOR_FETCH_MAX_PARTITION_BYTES',
    doc: 'Bytes one fetch takes from one partition at most: while a backlog is read, the partitions advance by about this much at a time (see PROCESSOR_READ_AHEAD).',
    default: 1024 * 1024,
    min: 64 * 1024,
  }),
  fetchMaxWaitMs: duration({
    key: 'PROCESSOR_FETCH_MAX_WAIT',
    doc: 'Longest a fetch waits for PROCESSOR_FETCH_MIN_BYTES: the time threshold of a batch.',
    default: 1_000,
    min: 10,
    max: 30_000,
  }),
  allowedLatenessMs: duration({
    key: 'PROCESSOR_ALLOWED_LATENESS',
    doc: 'How long after its end (in event time, behind the newest event) a 1-minute window still takes late events; later ones go to `late_events`.',
    default: 120_000,
    min: 0,
    max: 86_400_000,
  }),
  maxFutureSkewMs: duration({
    key: 'PROCESSOR_MAX_FUTURE_SKEW',
    doc: 'An event stamped more than this after the gateway received it (terminal clock ahead) is kept out of the windows as `clock_ahead`.',
    default: 60_000,
    min: 0,
    max: 86_400_000,
  }),
  idleGraceMs: duration({
    key: 'PROCESSOR_IDLE_GRACE',
    doc: "A partition with no backlog has its watermark moved to now minus this, so quiet partitions close their windows; keep it above the gateways' publish delay.",
    default: 30_000,
    min: 1_000,
    max: 3_600_000,
  }),
  readAheadMs: duration({
    key: 'PROCESSOR_READ_AHEAD',
    doc: 'While a backlog is read, a transactions or heartbeats partition more than this ahead (event time) of the slowest one this instance reads is paused until it catches up, so the partitions are judged together.',
    default: 60_000,
    min: 1_000,
    max: 86_400_000,
  }),
  tickIntervalMs: duration({
    key: 'PROCESSOR_TICK_INTERVAL',
    doc: 'How often quiet partitions advance their watermark and terminal status is re-evaluated (silence → OFFLINE).',
    default: 5_000,
    min: 100,
    max: 60_000,
  }),
  offlineAfterMs: duration({
    key: 'PROCESSOR_OFFLINE_AFTER',
    doc: 'A terminal with no heartbeat and no transaction for this long is OFFLINE.',
    default: 300_000,
    min: 1_000,
  }),
  rollingLevels: list({
    key: 'PROCESSOR_ROLLING_LEVELS',
    doc: 'Entity levels the processor publishes 5m/15m/1h rolling KpiUpdates for (SQL views cover every level).',
    default: Object.freeze(['MERCHANT', 'REGION', 'ACQUIRER', 'FLEET']),
    item: /^(TERMINAL|MERCHANT|REGION|ACQUIRER|FLEET)$/,
    // The item pattern admits exactly the KpiLevel names.
  }) as Var<readonly KpiLevel[]>,
  kpiDefinitionsRefreshMs: duration({
    key: 'PROCESSOR_KPI_DEFINITIONS_REFRESH',
    doc: 'How often the KPI definitions (kpi_definitions, changed through the api) are read again.',
    default: 10_000,
    min: 1_000,
    max: 3_600_000,
  }),
  rulesFile: optionalStr({
    key: 'PROCESSOR_RULES_FILE',
    doc: 'Detection rules file (JSON, see docs/DETECTION.md); re-read when it changes, a bad one refused. Unset: the built-in defaults (infra/detection/rules.json).',
  }),
} as const;

export type ProcessorConfig = ReturnType<typeof parseProcessorConfig>;

export function parseProcessorConfig(env: Env) {
  return parseConfig(processorSpec, env);
}
