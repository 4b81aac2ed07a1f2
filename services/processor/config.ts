import { duration, int, parseConfig, port, str, type Env } from '../shared/config.ts';

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
  fetchMaxWaitMs: duration({
    key: 'PROCESSOR_FETCH_MAX_WAIT',
    doc: 'Longest a fetch waits for PROCESSOR_FETCH_MIN_BYTES: the time threshold of a batch.',
    default: 1_000,
    min: 10,
    max: 30_000,
  }),
} as const;

export type ProcessorConfig = ReturnType<typeof parseProcessorConfig>;

export function parseProcessorConfig(env: Env) {
  return parseConfig(processorSpec, env);
}
