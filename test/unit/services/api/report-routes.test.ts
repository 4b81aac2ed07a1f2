import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { formatFromAccept, reportRoutes } from '../../../../services/api/report-routes.ts';
import { fakeReportStore, kpiBucketRow } from './sample-report.ts';

const NOW = Date.UTC(2026, 11, 3, 10, 30);
const YESTERDAY = Date.UTC(2026, 11, 2);

async function app(store: ReturnType<typeof fakeReportStore>) {
  const a = Fastify();
  await a.register(
    reportRoutes({
      store,
      tables: { kpi1m: 'db.kpi_1m', terminalStatusLatest: 'db.terminal_status_latest', alerts: 'db.alerts' },
      clock: () => NOW,
    }),
  );
  return a;
}

describe('GET /v1/reports', () => {
  it('reports the last complete period when no date is given', async () => {
    const a = await app(fakeReportStore({}));
    const week = (await a.inject({ url: '/v1/reports?merchant=M1&period=week' })).json();
    expect(week.period).toMatchObject({
      label: '2026-W48',
      from: '2026-11-23T00:00:00.000Z',
      complete: true,
    });
    const month = (await a.inject({ url: '/v1/reports?merchant=M1&period=month&date=2024-02-29' })).json();
    expect(month.period).toMatchObject({ label: '2024-02', to: '2024-03-01T00:00:00.000Z' });
    expect(month.previous_period.label).toBe('2024-01');
  });

  it('refuses bad parameters with a stable code naming the parameter', async () => {
    const a = await app(fakeReportStore({}));
    const code = async (q: string) => {
      const res = await a.inject({ url: `/v1/reports?${q}` });
      return [res.statusCode, res.json().errors[0].code];
    };
    expect(await code('merchant=M1')).toEqual([400, 'bad_period']);
    expect(await code('merchant=M1&period=year')).toEqual([400, 'bad_period']);
    expect(await code('merchant=M1&period=day&format=pdf')).toEqual([400, 'bad_format']);
    expect(await code('merchant=M1&period=day&top=0')).toEqual([400, 'bad_top']);
    expect(await code('merchant=M1&period=day&min_transactions=x')).toEqual([400, 'bad_min_transactions']);
    expect(await code('merchant=M1&period=day&date=2026-02-30')).toEqual([400, 'bad_date']);
    expect(await code('merchant=M1&period=month&date=2027-01-01')).toEqual([400, 'bad_date']);
    expect(await code('period=day')).toEqual([400, 'missing_entity']);
    expect(await code('merchant=M1&region=north&period=day')).toEqual([400, 'too_many_entities']);
    expect(await code('merchant=M1&fleet=true&period=day')).toEqual([400, 'too_many_entities']);
    // The current period may be asked for: it is partial, and says so.
    const open = await a.inject({ url: '/v1/reports?fleet=true&period=month&date=2026-12-01' });
    expect(open.statusCode).toBe(200);
    expect(open.json().warnings.map((w: { code: string }) => w.code)).toContain('period_open');
  });

  it('answers 404 unknown_entity for an entity that never had a window nor a terminal', async () => {
    const res = await (
      await app(fakeReportStore({}, false))
    ).inject({ url: '/v1/reports?acquirer=A404&period=week' });
    expect(res.statusCode).toBe(404);
    expect(res.json().errors[0].code).toBe('unknown_entity');
  });

  it('serves CSV as a download and HTML with its CSP, by parameter or by Accept', async () => {
    const a = await app(fakeReportStore({ [YESTERDAY]: kpiBucketRow(40, 30, { '05': 10 }) }));
    const csv = await a.inject({ url: '/v1/reports?merchant=M%2F1&period=day&format=csv' });
    expect(csv.headers['content-type']).toBe('text/csv; charset=utf-8; header=present');
    expect(csv.headers['content-disposition']).toBe(
      'attachment; filename="pospulse-report-merchant-M_1-2026-12-02.csv"',
    );
    expect(csv.body).toContain('kpi,,transactions,40,,,\r\n');
    const html = await a.inject({
      url: '/v1/reports?merchant=M1&period=day',
      headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' },
    });
    expect(html.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(html.headers['content-security-policy']).toMatch(/^default-src 'none'; style-src 'sha256-/);
    expect(html.body.startsWith('<!doctype html>')).toBe(true);
    expect(formatFromAccept('text/csv;q=0.5, text/html;q=0.9')).toBe('html');
    expect(formatFromAccept('image/png, */*')).toBe('json');
    expect(formatFromAccept('text/html;q=0, text/csv')).toBe('csv');
    expect(formatFromAccept(undefined)).toBe('json');
  });
});
