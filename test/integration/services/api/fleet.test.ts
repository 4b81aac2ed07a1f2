import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApiApp } from '../../../support/api-app.ts';
import { alertRow } from '../../../../services/processor/detection/rows.ts';
import { terminalStatusRow } from '../../../../services/processor/status/rows.ts';
import { processorTables } from '../../../../services/processor/tables.ts';
import type { Alert } from '../../../../services/shared/avro/types.generated.ts';
import { runMigrations } from '../../../../services/shared/clickhouse/migrations.ts';
import { status } from '../../../unit/services/live/statuses.ts';
import { openTestStore, type TestStore } from '../../support/store.ts';

const KEY = 'viewer-key-0123456789abcdef';
const T = Date.UTC(2026, 11, 3, 10);

function alert(n: number, state: 'FIRING' | 'RESOLVED', over: Partial<Alert> = {}): Alert {
  return {
    alert_id: randomUUID(),
    rule: n % 2 === 0 ? 'terminal_silent' : 'card_testing',
    severity: 'WARNING',
    state,
    entity_level: 'TERMINAL',
    entity_id: `T${n % 3}`,
    window_start: T + n * 60_000 - 60_000,
    window_end: T + n * 60_000,
    fired_time: T + n * 60_000,
    resolved_time: state === 'RESOLVED' ? T + n * 60_000 + 1_000 : null,
    summary: `alert ${n}`,
    value: n,
    threshold: 1,
    evidence: { n: String(n) },
    labels: {},
    ...over,
  };
}

describe('the API’s terminal and alert routes on the real engine', () => {
  const db = `apifleet_${Math.random().toString(36).slice(2, 10)}`;
  const tables = processorTables(db);
  let test: TestStore;
  let app: ReturnType<typeof testApiApp>['app'];
  const get = (url: string) => app.inject({ url, headers: { authorization: `Bearer ${KEY}` } });

  beforeAll(async () => {
    test = await openTestStore();
    await runMigrations(test.store, { database: db, rawTtlDays: 365 });
    const statuses = [
      status('T0', 'ONLINE', 1),
      status('T0', 'OFFLINE', 2, { reasons: ['silent'], since: T }),
      status('T1', 'OFFLINE', 1, { region: 'de-berlin' }),
      status('T2', 'DEGRADED', 1),
      ...Array.from({ length: 5 }, (_, i) => status(`T1${i}`, 'OFFLINE', 1)),
    ];
    await test.store.insert(tables.terminalStatus, statuses.map(terminalStatusRow));
    const alerts = Array.from({ length: 7 }, (_, n) => alert(n, n === 3 ? 'RESOLVED' : 'FIRING'));
    await test.store.insert(
      tables.alerts,
      alerts.map((a) => alertRow(a, 0, T)),
    );
    ({ app } = testApiApp(
      {
        store: test.store,
        tables,
      },
      [{ key: KEY, role: 'viewer', id: 't' }],
    ));
  }, 60_000);

  afterAll(async () => {
    await app?.close();
    await test?.close();
  });

  it('shows one terminal’s live status and recent alerts, and 404s one that never reported', async () => {
    const res = await get('/v1/terminals/T0');
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.terminal).toMatchObject({
      terminal_serial: 'T0',
      status: 'OFFLINE',
      reasons: ['silent'],
      since: new Date(T).toISOString(),
    });
    expect(body.recent_alerts.map((a: { summary: string }) => a.summary)).toEqual([
      'alert 6',
      'alert 3',
      'alert 0',
    ]);
    expect(body.kpis_15m.values).toBeNull();
    const missing = await get('/v1/terminals/T404');
    expect(missing.statusCode).toBe(404);
    expect(missing.json().errors[0].code).toBe('unknown_terminal');
  });

  it('lists terminals by status and region a page at a time', async () => {
    const first = (await get('/v1/terminals?status=OFFLINE&limit=3')).json();
    expect(first.terminals.map((t: { terminal_serial: string }) => t.terminal_serial)).toEqual([
      'T0',
      'T1',
      'T10',
    ]);
    const second = (await get(`/v1/terminals?status=OFFLINE&limit=3&cursor=${first.next_cursor}`)).json();
    const third = (await get(`/v1/terminals?status=OFFLINE&limit=3&cursor=${second.next_cursor}`)).json();
    expect(
      [...second.terminals, ...third.terminals].map((t: { terminal_serial: string }) => t.terminal_serial),
    ).toEqual(['T11', 'T12', 'T13', 'T14']);
    expect(third.next_cursor).toBeNull();
    expect((await get('/v1/terminals?region=de-berlin')).json().terminals).toHaveLength(1);
    expect((await get('/v1/terminals?cursor=garbage!')).statusCode).toBe(400);
    expect((await get('/v1/terminals?status=SLEEPY')).statusCode).toBe(400);
  });

  it('lists alerts newest first by state and rule, a page at a time', async () => {
    const firing = (await get('/v1/alerts?state=FIRING&limit=4')).json();
    expect(firing.alerts.map((a: { summary: string }) => a.summary)).toEqual([
      'alert 6',
      'alert 5',
      'alert 4',
      'alert 2',
    ]);
    const restRes = await get(`/v1/alerts?state=FIRING&limit=4&cursor=${firing.next_cursor}`);
    expect(restRes.statusCode, restRes.body).toBe(200);
    const rest = restRes.json();
    expect(rest.alerts.map((a: { summary: string }) => a.summary)).toEqual(['alert 1', 'alert 0']);
    expect(rest.next_cursor).toBeNull();
    const silent = (await get('/v1/alerts?rule=terminal_silent')).json();
    expect(silent.alerts.every((a: { rule: string }) => a.rule === 'terminal_silent')).toBe(true);
    expect(silent.alerts[0]).toMatchObject({
      fired_time: new Date(T + 6 * 60_000).toISOString(),
      evidence: { n: '6' },
    });
  });
});
