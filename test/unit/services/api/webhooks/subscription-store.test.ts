import { describe, expect, it } from 'vitest';
import { SecretBox } from '../../../../../services/api/webhooks/secret-box.ts';
import { SubscriptionStore } from '../../../../../services/api/webhooks/subscription-store.ts';
import { subscriptionTables } from '../../../../../services/api/webhooks/tables.ts';
import { parseSubscriptionFilter } from '../../../../../services/shared/subscription-filter.ts';

function recording(
  answer: (sql: string, params: Record<string, unknown>) => Record<string, unknown>[] = () => [],
) {
  const queries: { sql: string; params: Record<string, unknown> }[] = [];
  const inserts: { table: string; rows: readonly object[] }[] = [];
  return {
    queries,
    inserts,
    async query<T>(sql: string, params?: Record<string, unknown>): Promise<T[]> {
      queries.push({ sql, params: params ?? {} });
      return answer(sql, params ?? {}) as T[];
    },
    async insert<T extends object>(table: string, rows: readonly T[]): Promise<void> {
      inserts.push({ table, rows });
    },
  };
}

const box = new SecretBox(new Uint8Array(32).fill(7));
const uuid = (i: number) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;

describe('SubscriptionStore', () => {
  it('asks for long id lists a part at a time, so no request URL outgrows a server’s header limit', async () => {
    const fake = recording((_sql, params) =>
      (params['ids'] as string[]).filter((id) => id.endsWith('7')).map((id) => ({ id })),
    );
    const store = new SubscriptionStore(fake, subscriptionTables('db'), box);
    const ids = Array.from({ length: 450 }, (_, i) => uuid(i));
    const found = await store.existingDeliveries(ids);
    expect(fake.queries.map((q) => (q.params['ids'] as string[]).length)).toEqual([200, 200, 50]);
    expect(found).toEqual(new Set(ids.filter((id) => id.endsWith('7'))));
    for (const q of fake.queries) expect(JSON.stringify(q.params).length).toBeLessThan(8_000);
    expect(await store.existingDeliveries([])).toEqual(new Set());
    expect(fake.queries).toHaveLength(3);
  });

  it('stores a subscription as a row and reads it back the same', async () => {
    const fake = recording();
    const store = new SubscriptionStore(fake, subscriptionTables('db'), box);
    const s = {
      id: uuid(1),
      name: 'pager',
      filter: parseSubscriptionFilter('kpis', { level: 'REGION', metrics: ['tps'] }),
      url: 'https://hooks.example.com/x',
      secret: 'secret-secret-secret',
      maxAttempts: null,
      deleted: false,
      createdTime: Date.UTC(2026, 11, 3, 12),
      updatedTime: Date.UTC(2026, 11, 3, 12, 5),
      version: 7,
    };
    await store.saveSubscription(s);
    const [insert] = fake.inserts;
    expect(insert!.table).toBe('db.subscriptions');
    const row = insert!.rows[0] as Record<string, unknown>;
    expect(row).toMatchObject({
      subscription_id: s.id,
      topic: 'kpis',
      filter: '{"level":"REGION","final_only":true,"metrics":["tps"]}',
      max_attempts: 0,
      deleted: 0,
      created_time: '2026-12-03 12:00:00.000',
    });
    // What the SELECT gives back for that row: times in ms, 64-bit integers as strings.
    const back = new SubscriptionStore(
      recording(() => [
        { ...row, created_time: String(s.createdTime), updated_time: String(s.updatedTime), version: '7' },
      ]),
      subscriptionTables('db'),
      box,
    );
    expect(await back.subscription(s.id)).toEqual(s);
    // Sealed in the table: SQL readers do not see the secret.
    expect(String(row['secret'])).toMatch(/^v1:/);
    expect(String(row['secret'])).not.toContain(s.secret);
    // A store with another key cannot open it.
    const other = new SubscriptionStore(
      recording(() => [{ ...row, created_time: '0', updated_time: '0', version: '7' }]),
      subscriptionTables('db'),
      new SecretBox(new Uint8Array(32).fill(9)),
    );
    await expect(other.subscription(s.id)).rejects.toThrow(/cannot open/);
  });
});
