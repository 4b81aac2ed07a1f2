import { bool, duration, int, parseConfig, str, type Env } from '../../shared/config.ts';

export const webhookSpec = {
  enabled: bool({
    key: 'API_WEBHOOKS',
    doc: 'Run the webhook delivery worker in this API instance (needs KAFKA_*). Run it in one instance only: deliveries are scheduled in the memory of the instance that accepted them.',
    default: false,
  }),
  group: str({
    key: 'API_WEBHOOK_GROUP',
    doc: 'Kafka consumer group of the webhook worker; its committed offsets say which alerts and KPI updates were already turned into deliveries.',
    default: 'pospulse-api-webhooks',
  }),
  backoffBaseMs: duration({
    key: 'API_WEBHOOK_BACKOFF_BASE',
    doc: 'Retry delay after the first failed attempt, doubled after each further one (full jitter: a random delay up to this).',
    default: 1_000,
    min: 1,
    max: 3_600_000,
  }),
  backoffMaxMs: duration({
    key: 'API_WEBHOOK_BACKOFF_MAX',
    doc: 'Cap of the retry delay.',
    default: 300_000,
    min: 1,
    max: 86_400_000,
  }),
  maxAttempts: int({
    key: 'API_WEBHOOK_MAX_ATTEMPTS',
    doc: 'Attempts of a delivery before it is DEAD, unless its subscription sets `max_attempts`.',
    default: 8,
    min: 1,
    max: 100,
  }),
  timeoutMs: duration({
    key: 'API_WEBHOOK_TIMEOUT',
    doc: 'Time limit of one webhook request (connect, send, response headers).',
    default: 10_000,
    min: 100,
    max: 300_000,
  }),
  concurrency: int({
    key: 'API_WEBHOOK_CONCURRENCY',
    doc: 'Webhook requests in flight at once, over all subscriptions.',
    default: 16,
    min: 1,
    max: 1_000,
  }),
} as const;

export type WebhookConfig = ReturnType<typeof parseWebhookConfig>;

export function parseWebhookConfig(env: Env) {
  return parseConfig(webhookSpec, env);
}
