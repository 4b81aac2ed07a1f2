import { describe, expect, it } from 'vitest';
import { parseWebhookConfig } from '../../../../../services/api/webhooks/webhook-config.ts';
import { ConfigError } from '../../../../../services/shared/errors.ts';

describe('webhook config', () => {
  it('has the documented defaults: off, 1 s backoff capped at 5 min, 8 attempts, 10 s timeout', () => {
    expect(parseWebhookConfig({})).toEqual({
      enabled: false,
      group: 'pospulse-api-webhooks',
      backoffBaseMs: 1_000,
      backoffMaxMs: 300_000,
      maxAttempts: 8,
      timeoutMs: 10_000,
      concurrency: 16,
    });
    expect(
      parseWebhookConfig({
        API_WEBHOOKS: 'true',
        API_WEBHOOK_BACKOFF_BASE: '250ms',
        API_WEBHOOK_TIMEOUT: '2s',
      }),
    ).toMatchObject({ enabled: true, backoffBaseMs: 250, timeoutMs: 2_000 });
  });

  it('refuses a bad value naming the variable', () => {
    expect(() => parseWebhookConfig({ API_WEBHOOK_MAX_ATTEMPTS: '0' })).toThrow(ConfigError);
    expect(() => parseWebhookConfig({ API_WEBHOOK_MAX_ATTEMPTS: '0' })).toThrow(/API_WEBHOOK_MAX_ATTEMPTS/);
    expect(() => parseWebhookConfig({ API_WEBHOOKS: 'maybe' })).toThrow(/API_WEBHOOKS/);
    expect(() => parseWebhookConfig({ API_WEBHOOK_TIMEOUT: '10 parsecs' })).toThrow(/API_WEBHOOK_TIMEOUT/);
  });
});
