import { describe, expect, it } from 'vitest';
import { SecretBox } from '../../../../services/api/webhooks/secret-box.ts';
import { AnalystCredentials } from '../../../../services/api/analyst-credentials.ts';
import { subscriptionTables } from '../../../../services/api/webhooks/tables.ts';
import { testApiApp } from '../../../support/api-app.ts';

const VIEWER = 'viewer-key-0123456789abcdef';
const ADMIN = 'admin-key-0123456789abcdef';
const NOW = Date.UTC(2026, 11, 3, 12, 30);

/** A store that answers the KPI query with one bucket per call, and records the SQL. */
function fakeStore(rows: Record<string, unknown>[] = []) {
  const queries: { sql: string; params: unknown }[] = [];
  const inserted: { table: string; row: Record<string, unknown> }[] = [];
  return {
    queries,
    inserted,
    async insert<T extends object>(table: string, rows: readonly T[]): Promise<void> {
      for (const row of rows) inserted.push({ table, row: { ...row } as Record<string, unknown> });
    },
    async query<T>(sql: string, params?: unknown): Promise<T[]> {
      queries.push({ sql, params });
      // kpi_definitions FINAL: the newest version per name, tombstones left out.
      if (sql.includes('kpi_definitions')) {
        const newest = new Map<string, Record<string, unknown>>();
        for (const { table, row } of inserted)
          if (table === 'db.kpi_definitions') newest.set(row['name'] as string, row);
        const wanted = (params as { name?: string } | undefined)?.name;
        return [...newest.values()].filter(
          (r) => r['deleted'] === 0 && (wanted === undefined || r['name'] === wanted),
        ) as T[];
      }
      if (sql.includes('terminal_status')) return [{ n: 0 }] as T[];
      if (sql.includes('kpi_1m')) return rows as T[];
      return [] as T[];
    },
  };
}

function build(store = fakeStore()) {
  return testApiApp(
    {
      store,
      tables: {
        kpi1m: 'db.kpi_1m',
        terminalStatus: 'db.terminal_status',
        terminalStatusLatest: 'db.terminal_status_latest',
        alerts: 'db.alerts',
        kpiDefinitions: 'db.kpi_definitions',
      },
      clock: () => NOW,
      // In the route sweep; their behaviour is tested in analyst-credentials.test.ts.
      analystCredentials: new AnalystCredentials({
        store: { ...store, command: async () => undefined },
        table: 'db.analyst_credentials',
        database: 'db',
        clickhouseUrl: 'http://127.0.0.1:8124',
        clock: () => NOW,
      }),
      // In the route sweep; their behaviour is tested in webhooks/subscription-routes.test.ts.
      subscriptions: { tables: subscriptionTables('db'), secrets: new SecretBox(new Uint8Array(32)) },
    },
    [
      { key: VIEWER, role: 'viewer', id: 'wall' },
      { key: ADMIN, role: 'admin', id: 'ops' },
    ],
    { maxBuckets: 100 },
  );
}

const bucketRow = {
  bucket: Date.UTC(2026, 11, 3, 11),
  tx: 40,
  approved: 30,
  declined: 8,
  timeouts: 2,
  refunds: 1,
  reversals: 0,
  declines_by_code: { '05': 6, '51': 2 },
  amount_sum: { EUR: 100_000 },
  amount_count: { EUR: 40 },
  latency_count: 38,
  latency_sum: 11_400,
  latency_max: 900,
  all_final: 1,
  sketches: [],
};

describe('API app', () => {
  it('refuses every route that needs a role without credentials (401) and with a too weak one (403)', async () => {
    const { app, routes } = build();
    await app.ready();
    const guarded = routes.filter((r) => r.role !== 'public' && r.method !== 'HEAD');
    expect(guarded.map((r) => `${r.method} ${r.url}`)).toContain('GET /v1/kpis');
    expect(guarded.map((r) => `${r.method} ${r.url}`)).toContain(
      'POST /v1/subscriptions/:id/deliveries/:delivery/retry',
    );
    for (const r of guarded) {
      const res = await app.inject({ method: r.method as 'GET', url: r.url });
      expect(res.statusCode, `${r.method} ${r.url}`).toBe(401);
      expect(res.json().errors[0].code).toBe('missing_credentials');
      const wrong = await app.inject({
        method: r.method as 'GET',
        url: r.url,
        headers: { authorization: 'Bearer nope' },
      });
      expect(wrong.statusCode).toBe(401);
      if (r.role !== 'viewer') {
        const weak = await app.inject({
          method: r.method as 'GET',
          url: r.url,
          headers: { authorization: `Bearer ${VIEWER}` },
        });
        expect(weak.statusCode, `${r.method} ${r.url}`).toBe(403);
      }
    }
    // /metrics takes an admin, not a viewer.
    expect(
      (await app.inject({ url: '/metrics', headers: { authorization: `Bearer ${VIEWER}` } })).statusCode,
    ).toBe(401);
    expect(
      (await app.inject({ url: '/metrics', headers: { authorization: `Bearer ${ADMIN}` } })).statusCode,
    ).toBe(200);
    await app.close();
  });

  it('refuses to add a route that names no role', async () => {
    const { app } = build();
    expect(() => app.get('/v1/oops', async () => 'x')).toThrow(/declares neither a role nor public/);
    await app.close();
  });

  it('serves the OpenAPI document generated from the route schemas', async () => {
    const { app } = build();
    const doc = (await app.inject({ url: '/openapi.json' })).json();
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toContain('/v1/kpis');
    expect(doc.paths['/v1/kpis'].get.parameters.map((p: { name: string }) => p.name)).toEqual(
      expect.arrayContaining(['terminal', 'merchant', 'from', 'to', 'metric', 'granularity']),
    );
    expect((await app.inject({ url: '/docs' })).statusCode).toBeLessThan(400);
    await app.close();
  });

  it('echoes the request, gives the values per bucket, and names what is wrong with stable codes', async () => {
    const store = fakeStore([bucketRow]);
    const { app } = build(store);
    const get = (qs: string) =>
      app.inject({ url: `/v1/kpis?${qs}`, headers: { authorization: `Bearer ${VIEWER}` } });
    const ok = await get(
      'merchant=M1&from=2026-12-03T11:00:00Z&to=2026-12-03T12:00:00Z&granularity=1h&metric=count,approval_rate,declines_by_code,amount,avg_amount,latency_avg_ms',
    );
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({
      request: {
        level: 'MERCHANT',
        entity: 'M1',
        from: '2026-12-03T11:00:00.000Z',
        to: '2026-12-03T12:00:00.000Z',
        granularity: '1h',
        metrics: ['count', 'approval_rate', 'declines_by_code', 'amount', 'avg_amount', 'latency_avg_ms'],
      },
      buckets: [
        {
          start: '2026-12-03T11:00:00.000Z',
          end: '2026-12-03T12:00:00.000Z',
          complete: true,
          values: {
            count: 40,
            approval_rate: 0.75,
            declines_by_code: { '05': 6, '51': 2 },
            amount: { EUR: 100_000 },
            avg_amount: { EUR: 2_500 },
            latency_avg_ms: 300,
          },
        },
      ],
      warnings: [],
      errors: [],
    });
    expect(store.queries[0]!.params).toMatchObject({ level: 'MERCHANT', id: 'M1', g: 3600 });
    const cases: [string, number, string][] = [
      ['merchant=M1&region=R1', 400, 'too_many_entities'],
      ['from=yesterday', 400, 'bad_time'],
      ['from=2026-12-03T12:00:00Z&to=2026-12-03T11:00:00Z', 400, 'bad_time'],
      ['from=2026-11-01T00:00:00Z&granularity=1m', 400, 'range_too_large'],
      ['metric=count,vibes', 400, 'unknown_metric'],
      ['terminal=T404', 404, 'unknown_terminal'],
    ];
    for (const [qs, status, code] of cases) {
      if (qs.startsWith('terminal=')) store.queries.length = 0;
      const res = await (qs.startsWith('terminal=') ? build(fakeStore([])).app : app).inject({
        url: `/v1/kpis?${qs}`,
        headers: { authorization: `Bearer ${VIEWER}` },
      });
      expect(res.statusCode, qs).toBe(status);
      expect(
        res.json().errors.map((e: { code: string }) => e.code),
        qs,
      ).toContain(code);
    }
    // An open bucket is flagged.
    const openStore = fakeStore([{ ...bucketRow, bucket: Date.UTC(2026, 11, 3, 12), all_final: 0 }]);
    const open = await build(openStore).app.inject({
      url: '/v1/kpis?granularity=1h&from=2026-12-03T12:00:00Z',
      headers: { authorization: `Bearer ${VIEWER}` },
    });
    expect(open.json().warnings.map((w: { code: string }) => w.code)).toEqual(['window_open']);
    await app.close();
  });
});

describe('KPI definitions', () => {
  const admin = { authorization: `Bearer ${ADMIN}` };
  const viewer = { authorization: `Bearer ${VIEWER}` };
  const definition = {
    name: 'decline_share',
    formula: 'declined / count * 100',
    unit: '%',
    level: 'MERCHANT',
    warning: 10,
    critical: 20,
  };

  it('creates, reads, replaces and deletes a definition; viewers only read', async () => {
    const store = fakeStore([bucketRow]);
    const { app } = build(store);
    const created = await app.inject({
      method: 'POST',
      url: '/v1/kpi-definitions',
      headers: admin,
      payload: definition,
    });
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({ ...definition, rule: 'kpi:decline_share', updated_by: 'ops' });
    const revision = created.json().revision as string;
    expect(created.headers.etag).toBe(`"${revision}"`);

    const again = await app.inject({
      method: 'POST',
      url: '/v1/kpi-definitions',
      headers: admin,
      payload: definition,
    });
    expect(again.statusCode).toBe(409);
    expect(again.json().errors[0].code).toBe('definition_exists');

    const list = await app.inject({ url: '/v1/kpi-definitions', headers: viewer });
    expect(list.json().definitions.map((d: { name: string }) => d.name)).toEqual(['decline_share']);
    const denied = await app.inject({
      method: 'PUT',
      url: '/v1/kpi-definitions/decline_share',
      headers: viewer,
      payload: definition,
    });
    expect(denied.statusCode).toBe(403);

    const stale = await app.inject({
      method: 'PUT',
      url: '/v1/kpi-definitions/decline_share',
      headers: { ...admin, 'if-match': '"1"' },
      payload: { ...definition, warning: 12 },
    });
    expect(stale.statusCode).toBe(412);
    expect(stale.json().errors[0].code).toBe('revision_mismatch');
    const replaced = await app.inject({
      method: 'PUT',
      url: '/v1/kpi-definitions/decline_share',
      headers: { ...admin, 'if-match': `"${revision}"` },
      payload: { ...definition, warning: 12 },
    });
    expect(replaced.statusCode).toBe(200);
    expect(BigInt(replaced.json().revision)).toBeGreaterThan(BigInt(revision));
    const one = await app.inject({ url: '/v1/kpi-definitions/decline_share', headers: viewer });
    expect(one.json().warning).toBe(12);

    // Queried like a built-in metric, from the same sums: 8 declines of 40 attempts.
    const kpis = await app.inject({
      url: '/v1/kpis?merchant=M1&from=2026-12-03T11:00:00Z&to=2026-12-03T12:00:00Z&granularity=1h&metric=count,decline_share',
      headers: viewer,
    });
    expect(kpis.statusCode).toBe(200);
    expect(kpis.json().buckets[0].values).toEqual({ count: 40, decline_share: 20 });

    const gone = await app.inject({
      method: 'DELETE',
      url: '/v1/kpi-definitions/decline_share',
      headers: admin,
    });
    expect(gone.statusCode).toBe(204);
    expect((await app.inject({ url: '/v1/kpi-definitions/decline_share', headers: viewer })).statusCode).toBe(
      404,
    );
    const after = await app.inject({
      url: '/v1/kpis?merchant=M1&metric=decline_share',
      headers: viewer,
    });
    expect(after.json().errors[0].code).toBe('unknown_metric');
    expect(
      (await app.inject({ method: 'DELETE', url: '/v1/kpi-definitions/decline_share', headers: admin }))
        .statusCode,
    ).toBe(404);
    await app.close();
  });

  it('names every field that is wrong', async () => {
    const { app } = build();
    const res = await app.inject({
      method: 'POST',
      url: '/v1/kpi-definitions',
      headers: admin,
      payload: { ...definition, name: 'count', formula: 'declined / nope', warning: 30 },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().errors).toEqual([
      { code: 'invalid_definition', field: 'name', message: 'name "count" is a built-in metric' },
      expect.objectContaining({ field: 'formula', message: expect.stringMatching(/unknown metric "nope"/) }),
      expect.objectContaining({ field: 'critical', message: expect.stringMatching(/at least the warning/) }),
    ]);
    const mismatch = await app.inject({
      method: 'PUT',
      url: '/v1/kpi-definitions/other',
      headers: admin,
      payload: definition,
    });
    expect(mismatch.statusCode).toBe(400);
    expect(mismatch.json().errors[0].field).toBe('name');
    await app.close();
  });
});
