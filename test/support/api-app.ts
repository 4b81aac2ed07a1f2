import { buildApiApp, type ApiAppDeps } from '../../services/api/app.ts';
import { parseApiKeys, sha256Hex, type Role } from '../../services/api/auth.ts';
import { createLogger } from '../../services/shared/logger.ts';
import { createMetricsRegistry } from '../../services/shared/metrics.ts';

/**
 * The API app as tests build it: silent logs, a private metrics registry, API keys given in clear
 * (hashed here as API_KEYS holds them; `id` is what the API records as who did something), no
 * JWTs, API_MAX_BUCKETS 1,000 unless `maxBuckets` says otherwise.
 */
export function testApiApp(
  deps: Omit<ApiAppDeps, 'logger' | 'metrics'>,
  keys: readonly { key: string; role: Role; id?: string }[],
  options: { maxBuckets?: number } = {},
): ReturnType<typeof buildApiApp> {
  return buildApiApp(
    {
      logger: createLogger({ service: 'api-test', level: 'silent' }),
      metrics: createMetricsRegistry('api', false),
      ...deps,
    },
    {
      keys: parseApiKeys(
        JSON.stringify(
          keys.map((k, i) => ({ id: k.id ?? `k${i}`, key_sha256: sha256Hex(k.key), role: k.role })),
        ),
      ),
      jwtSecret: undefined,
      jwtIssuer: 'pospulse',
      jwtAudience: 'pospulse-api',
      maxBuckets: options.maxBuckets ?? 1_000,
    },
  );
}
