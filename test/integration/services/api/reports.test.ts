import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isoDate } from '../../../../services/api/report-period.ts';
import { alertRow } from '../../../../services/processor/detection/rows.ts';
import { kpiRow } from '../../../../services/processor/kpi/rows.ts';
import { KpiWindowEngine, type WindowEmission } from '../../../../services/processor/kpi/windows.ts';
import { terminalStatusRow } from '../../../../services/processor/status/rows.ts';
import { processorTables } from '../../../../services/processor/tables.ts';
import type { Alert, TransactionEvent } from '../../../../services/shared/avro/types.generated.ts';
import { runMigrations } from '../../../../services/shared/clickhouse/migrations.ts';
import { transactionRow } from '../../../../services/shared/clickhouse/rows.ts';
import { transactionAt } from '../../../support/fixtures.ts';
import { parseCsv } from '../../../unit/services/api/sample-report.ts';
import { status } from '../../../unit/services/live/statuses.ts';
import { testApiApp } from '../../../support/api-app.ts';
import { repoRoot } from '../../support/broker.ts';
import { isCI } from '../../support/kafka.ts';
import { openTestStore, type TestStore } from '../../support/store.ts';

/*
 * GET /v1/reports on the real engine. Two days of transactions go in as the processor writes them
 * (its window engine and row builders: kpi_1m; the raw rows: transactions), with the terminals'
 * status and some alerts; the report's numbers are checked against SQL on the raw transactions.
 * The HTML report is opened in Debian's chromium (playwright-core) and printed to PDF.
 */

const KEY = 'viewer-key-0123456789abcdef';
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const MERCHANT = 'M-REP';
const TERMINALS = ['R-T0', 'R-T1', 'R-T2', 'R-T3', 'R-T4', 'R-T5'];
/** A terminal of another merchant: in the fleet's figures, in none of M-REP's. */
const OTHER = 'R-X0';

// The report day ended days ago (every window final); the previous day is the one before.
const DAY_START = Math.floor(Date.now() / DAY) * DAY - 3 * DAY;
const PREV_START = DAY_START - DAY;

/** A day of traffic: `n` transactions over its hours but `gap`, each terminal with its own trouble. */
function dayOfTraffic(start: number, n: number, idBase: number, gap: number): TransactionEvent[] {
  const hours = Array.from({ length: 20 }, (_, h) => h + 2).filter((h) => h !== gap);
  const events: TransactionEvent[] = [];
  for (let i = 0; i < n; i++) {
    const k = i % 7;
    // R-T5 trades rarely: below the approval-rate ranking's minimum.
    if (k === 5 && i % 70 !== 5) continue;
    const terminal = k === 6 ? OTHER : (TERMINALS[k] as string);
    const t = start + (hours[i % hours.length] as number) * HOUR + ((i * 7_919) % HOUR);
    const declined = k === 3 ? i % 5 < 2 : i % 11 === 0;
    const timedOut = !declined && (k === 4 ? i % 3 === 0 : i % 29 === 0);
    const code = declined ? (['05', '51', '91'][i % 3] as string) : timedOut ? null : '00';
    events.push(
      transactionAt(idBase + i, t, t + 300, {
        merchant_id: k === 6 ? 'M-OTHER' : MERCHANT,
        terminal_serial: terminal,
        region: k === 6 ? 'south' : 'north',
        acquirer_id: 'ACQ-R',
        transaction_type: 'SALE',
        status: declined ? 'DECLINED' : timedOut ? 'TIMEOUT' : 'APPROVED',
        response_code: code,
        response_message: null,
        response_time: timedOut ? null : t + 100 + ((i * 37) % 700),
        amount_minor: 500 + ((i * 131) % 20_000),
        currency: i % 6 === 0 ? 'USD' : 'EUR',
      }),
    );
  }
  return events.sort((a, b) => a.request_time - b.request_time);
}

/** kpi_1m rows as the processor writes them: two partitions (terminals split), every emission. */
function kpiRows(events: readonly TransactionEvent[], end: number) {
  const emitted: WindowEmission[] = [];
  for (const partition of [0, 1]) {
    const mine = events.filter((e) => (TERMINALS.indexOf(e.terminal_serial) + 2) % 2 === partition);
    const engine = new KpiWindowEngine({ partition });
    for (let i = 0; i < mine.length; i += 50)
      emitted.push(
        ...engine.process(mine.slice(i, i + 50).map((event, j) => ({ offset: i + j, event }))).updates,
      );
    emitted.push(...engine.advanceWatermark(end + 10 * 60_000).updates);
  }
  return emitted.map((e) => kpiRow(e, end + 10 * 60_000));
}

function alert(entityLevel: string, entityId: string, firedTime: number, over: Partial<Alert> = {}): Alert {
  return {
    alert_id: randomUUID(),
    rule: 'card_testing',
    severity: 'WARNING',
    state: 'FIRING',
    entity_level: entityLevel as Alert['entity_level'],
    entity_id: entityId,
    window_start: firedTime - 60_000,
    window_end: firedTime,
    fired_time: firedTime,
    resolved_time: null,
    summary: `${entityLevel} ${entityId}`,
    value: 9,
    threshold: 6,
    evidence: {},
    labels: {},
    ...over,
  };
}

describe('GET /v1/reports on the real engine, checked with SQL on the raw transactions', () => {
  const db = `apirep_${Math.random().toString(36).slice(2, 10)}`;
  const tables = processorTables(db);
  let test: TestStore;
  let app: ReturnType<typeof testApiApp>['app'];
  const get = (url: string) => app.inject({ url, headers: { authorization: `Bearer ${KEY}` } });
  const expectedAlerts: string[] = [];

  beforeAll(async () => {
    test = await openTestStore();
    await runMigrations(test.store, { database: db, rawTtlDays: 365 });
    const events = [...dayOfTraffic(PREV_START, 700, 100_000, 14), ...dayOfTraffic(DAY_START, 1_050, 0, 10)];
    await test.store.insert(tables.transactions, events.map(transactionRow));
    await test.store.insert(tables.kpi1m, kpiRows(events, DAY_START + DAY));
    await test.store.insert(
      tables.terminalStatus,
      [...TERMINALS, OTHER].map((serial) =>
        terminalStatusRow(
          status(serial, 'ONLINE', 1, {
            merchant_id: serial === OTHER ? 'M-OTHER' : MERCHANT,
            region: serial === OTHER ? 'south' : 'north',
            acquirer_id: 'ACQ-R',
          }),
        ),
      ),
    );
    const merchantAlert = alert('MERCHANT', MERCHANT, DAY_START + 11 * HOUR, { rule: 'approval_drop' });
    const terminalAlert = alert('TERMINAL', 'R-T3', DAY_START + 15 * HOUR, { severity: 'CRITICAL' });
    const resolved = { ...terminalAlert, state: 'RESOLVED' as const, resolved_time: DAY_START + 16 * HOUR };
    expectedAlerts.push(terminalAlert.alert_id, merchantAlert.alert_id);
    await test.store.insert(tables.alerts, [
      alertRow(merchantAlert, 0, DAY_START + 11 * HOUR),
      alertRow(terminalAlert, 0, DAY_START + 15 * HOUR),
      alertRow(resolved, 0, DAY_START + 16 * HOUR),
      // Another merchant's terminal, and M-REP's terminal the day before: not in the report.
      alertRow(alert('TERMINAL', OTHER, DAY_START + 12 * HOUR), 1, DAY_START + 12 * HOUR),
      alertRow(alert('TERMINAL', 'R-T3', PREV_START + 12 * HOUR), 1, PREV_START + 12 * HOUR),
    ]);
    ({ app } = testApiApp({ store: test.store, tables }, [{ key: KEY, role: 'viewer' }]));
  }, 120_000);

  afterAll(async () => {
    await app?.close();
    await test?.close();
  });

  /** The raw transactions' figures of M-REP (or the fleet) over [from, to). */
  async function rawFigures(from: number, to: number, merchant: string | null) {
    const where = `request_time >= fromUnixTimestamp64Milli({from:Int64}) AND request_time < fromUnixTimestamp64Milli({to:Int64})
       ${merchant === null ? '' : 'AND merchant_id = {m:String}'}`;
    const raw = `(SELECT * FROM ${tables.transactions} FINAL WHERE ${where})`;
    const params = { from, to, m: merchant ?? '' };
    const [totals] = await test.store.query<Record<string, string | number>>(
      `SELECT count() AS n, countIf(status = 'APPROVED') AS approved, countIf(status = 'DECLINED') AS declined,
              countIf(status = 'TIMEOUT') AS timeouts, uniqExact(terminal_serial) AS terminals,
              arraySort(groupArray(dateDiff('millisecond', request_time, response_time))) AS latencies,
              latencies[toUInt64(floor(0.95 * (length(latencies) - 1))) + 1] AS p95
       FROM ${raw}`,
      params,
    );
    const amounts = await test.store.query<{ currency: string; total: string }>(
      `SELECT currency, sumIf(amount_minor, status = 'APPROVED') AS total FROM ${raw} GROUP BY currency ORDER BY currency`,
      params,
    );
    const declines = await test.store.query<{ code: string; n: string }>(
      `SELECT ifNull(response_code, 'none') AS code, count() AS n FROM ${raw} WHERE status = 'DECLINED'
       GROUP BY code ORDER BY n DESC, code`,
      params,
    );
    const hours = await test.store.query<{ hour: string; n: string }>(
      `SELECT toUnixTimestamp64Milli(toDateTime64(toStartOfHour(request_time), 3)) AS hour, count() AS n
       FROM ${raw} GROUP BY hour ORDER BY hour`,
      params,
    );
    const terminals = await test.store.query<{ t: string; n: string; ok: string; lost: string }>(
      `SELECT terminal_serial AS t, count() AS n, countIf(status = 'APPROVED') AS ok, countIf(status = 'TIMEOUT') AS lost
       FROM ${raw} GROUP BY t`,
      params,
    );
    return { totals: totals!, amounts, declines, hours, terminals };
  }

  it('gives the day’s KPIs, their trend, hourly series, decline reasons and worst terminals as SQL on the raw rows does', async () => {
    const res = await get(`/v1/reports?merchant=${MERCHANT}&period=day&date=${isoDate(DAY_START)}&top=3`);
    expect(res.statusCode, res.body).toBe(200);
    const r = res.json();
    const cur = await rawFigures(DAY_START, DAY_START + DAY, MERCHANT);
    const prev = await rawFigures(PREV_START, DAY_START, MERCHANT);
    expect(r.period).toMatchObject({ kind: 'day', label: isoDate(DAY_START), complete: true });
    expect(r.previous_period.label).toBe(isoDate(PREV_START));
    expect(r.warnings).toEqual([]);

    const pairs: [string, string][] = [
      ['transactions', 'n'],
      ['approved', 'approved'],
      ['declined', 'declined'],
      ['timeouts', 'timeouts'],
      ['active_terminals', 'terminals'],
    ];
    for (const [kpi, column] of pairs) {
      const now = Number(cur.totals[column]);
      const before = Number(prev.totals[column]);
      expect(r.kpis[kpi], kpi).toEqual({
        value: now,
        previous: before,
        change: now - before,
        relative_change: (now - before) / before,
      });
    }
    expect(r.kpis.transactions.change).not.toBe(0);
    const rate = (f: typeof cur) => Number(f.totals['approved']) / Number(f.totals['n']);
    expect(r.kpis.approval_rate.value).toBeCloseTo(rate(cur), 12);
    expect(r.kpis.approval_rate.change).toBeCloseTo(rate(cur) - rate(prev), 12);
    expect(r.kpis.avg_tps.value).toBeCloseTo(Number(cur.totals['n']) / 86_400, 12);
    // DDSketch p95: within 1 % of the value at rank 0.95 (services/shared/kpi/latency-sketch.ts).
    const p95 = Number(cur.totals['p95']);
    expect(Math.abs(r.kpis.latency_p95_ms.value - p95)).toBeLessThanOrEqual(p95 * 0.01);
    expect(r.amounts).toEqual(
      cur.amounts.map((a, i) => {
        const before = Number(prev.amounts[i]!.total);
        return expect.objectContaining({
          currency: a.currency,
          value: Number(a.total),
          previous: before,
          change: Number(a.total) - before,
        });
      }),
    );

    // Every hour of the day, the empty ones (before 02:00, the 10:00 gap) as zeros.
    expect(r.series.granularity).toBe('1h');
    expect(r.series.points).toHaveLength(24);
    const byHour = new Map(cur.hours.map((h) => [Number(h.hour), Number(h.n)]));
    r.series.points.forEach((p: { start: string; transactions: number; approval_rate: number | null }) => {
      expect(p.transactions, p.start).toBe(byHour.get(Date.parse(p.start)) ?? 0);
      if (p.transactions === 0) expect(p.approval_rate).toBeNull();
    });
    expect(r.series.points[10].transactions).toBe(0);

    const declined = Number(cur.totals['declined']);
    const prevDeclines = new Map(prev.declines.map((d) => [d.code, Number(d.n)]));
    expect(r.decline_reasons).toEqual(
      cur.declines.map((d) => ({
        code: d.code,
        count: Number(d.n),
        share: Number(d.n) / declined,
        previous: prevDeclines.get(d.code) ?? 0,
      })),
    );

    // Worst by approval rate: R-T3 (40 % declines) first; R-T5 (a handful of transactions) not ranked.
    const ranked = cur.terminals
      .filter((t) => Number(t.n) >= 20)
      .sort(
        (a, b) =>
          Number(a.ok) / Number(a.n) - Number(b.ok) / Number(b.n) ||
          Number(b.n) - Number(a.n) ||
          (a.t < b.t ? -1 : 1),
      )
      .slice(0, 3)
      .map((t) => t.t);
    expect(r.worst_terminals.by_approval_rate.map((t: { terminal: string }) => t.terminal)).toEqual(ranked);
    expect(ranked[0]).toBe('R-T3');
    expect(r.worst_terminals.by_approval_rate.some((t: { terminal: string }) => t.terminal === 'R-T5')).toBe(
      false,
    );
    const byTimeouts = cur.terminals
      .filter((t) => Number(t.lost) > 0)
      .sort(
        (a, b) =>
          Number(b.lost) - Number(a.lost) ||
          Number(b.lost) / Number(b.n) - Number(a.lost) / Number(a.n) ||
          (a.t < b.t ? -1 : 1),
      )
      .slice(0, 3);
    expect(r.worst_terminals.by_timeouts).toEqual(
      byTimeouts.map((t) =>
        expect.objectContaining({ terminal: t.t, timeouts: Number(t.lost), transactions: Number(t.n) }),
      ),
    );
    expect(byTimeouts[0]!.t).toBe('R-T4');
    expect(
      r.worst_terminals.by_approval_rate
        .concat(r.worst_terminals.by_timeouts)
        .map((t: { terminal: string }) => t.terminal),
    ).not.toContain(OTHER);

    // The merchant's alert and its terminal's (resolved, one row), not another merchant's nor the day before's.
    expect(r.alerts.total).toBe(2);
    expect(r.alerts.items.map((a: { alert_id: string }) => a.alert_id)).toEqual(expectedAlerts);
    expect(r.alerts.items[0]).toMatchObject({ entity_id: 'R-T3', state: 'RESOLVED', severity: 'CRITICAL' });
    expect(r.alerts.by_rule).toEqual(
      expect.arrayContaining([
        { rule: 'approval_drop', severity: 'WARNING', count: 1 },
        { rule: 'card_testing', severity: 'CRITICAL', count: 1 },
      ]),
    );
  }, 60_000);

  it('reports the fleet over every merchant, and 404s a merchant that never existed', async () => {
    const r = (await get(`/v1/reports?fleet=true&period=day&date=${isoDate(DAY_START)}`)).json();
    const all = await rawFigures(DAY_START, DAY_START + DAY, null);
    expect(r.kpis.transactions.value).toBe(Number(all.totals['n']));
    expect(r.kpis.active_terminals.value).toBe(TERMINALS.length + 1);
    expect(r.alerts.total).toBe(3);
    const missing = await get(`/v1/reports?merchant=M-NOBODY&period=day`);
    expect(missing.statusCode).toBe(404);
    expect(missing.json().errors[0].code).toBe('unknown_entity');
  }, 60_000);

  it('reports the ISO week by the day, each day and the total as the raw rows give them', async () => {
    const r = (await get(`/v1/reports?merchant=${MERCHANT}&period=week&date=${isoDate(DAY_START)}`)).json();
    const from = Date.parse(r.period.from);
    expect(new Date(from).getUTCDay()).toBe(1);
    expect(Date.parse(r.period.to) - from).toBe(7 * DAY);
    const week = await rawFigures(from, from + 7 * DAY, MERCHANT);
    expect(r.kpis.transactions.value).toBe(Number(week.totals['n']));
    expect(r.series.granularity).toBe('1d');
    expect(r.series.points).toHaveLength(7);
    const day = await rawFigures(DAY_START, DAY_START + DAY, MERCHANT);
    const point = r.series.points.find((p: { start: string }) => Date.parse(p.start) === DAY_START);
    expect(point.transactions).toBe(Number(day.totals['n']));
    expect(r.series.points.reduce((a: number, p: { transactions: number }) => a + p.transactions, 0)).toBe(
      Number(week.totals['n']),
    );
  }, 60_000);

  it('writes the same report as CSV that parses back', async () => {
    const url = `/v1/reports?merchant=${MERCHANT}&period=day&date=${isoDate(DAY_START)}`;
    const json = (await get(url)).json();
    const res = await get(`${url}&format=csv`);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-disposition']).toBe(
      `attachment; filename="pospulse-report-merchant-${MERCHANT}-${isoDate(DAY_START)}.csv"`,
    );
    const rows = parseCsv(res.body.replace(/^\uFEFF/, ''));
    expect(rows[0]).toEqual(['section', 'item', 'metric', 'value', 'previous', 'change', 'relative_change']);
    const kpi = (name: string) => rows.find((row) => row[0] === 'kpi' && row[2] === name)!;
    expect(kpi('transactions').slice(3, 6).map(Number)).toEqual([
      json.kpis.transactions.value,
      json.kpis.transactions.previous,
      json.kpis.transactions.change,
    ]);
    expect(Number(kpi('approval_rate')[3])).toBe(json.kpis.approval_rate.value);
    expect(rows.filter((row) => row[0] === 'series')).toHaveLength(24 * 5);
    expect(rows.filter((row) => row[0] === 'alert' && row[2] === 'rule')).toHaveLength(2);
  }, 60_000);

  it.skipIf(!existsSync(CHROMIUM) && !isCI)(
    'renders the HTML report in chromium under its CSP, with its charts, and prints it to PDF',
    async () => {
      await app.listen({ host: '127.0.0.1', port: 0 });
      const { port } = app.server.address() as AddressInfo;
      const browser = await chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
      });
      try {
        const context = await browser.newContext({
          extraHTTPHeaders: { authorization: `Bearer ${KEY}` },
          viewport: { width: 1100, height: 1400 },
        });
        const page = await context.newPage();
        const problems: string[] = [];
        page.on('console', (m) => {
          if (m.type() === 'error') problems.push(m.text());
        });
        page.on('pageerror', (e) => problems.push(String(e)));
        // No format parameter: the browser's Accept header asks for HTML.
        const res = await page.goto(
          `http://127.0.0.1:${port}/v1/reports?merchant=${MERCHANT}&period=day&date=${isoDate(DAY_START)}`,
        );
        expect(res?.status()).toBe(200);
        expect(res?.headers()['content-type']).toBe('text/html; charset=utf-8');
        expect(await page.title()).toBe(`KPI report: Merchant ${MERCHANT}, day ${isoDate(DAY_START)}`);
        // Four charts, drawn: bars and lines with a real size on the page.
        expect(await page.locator('svg.chart').count()).toBe(4);
        for (const box of await page.locator('svg.chart').all()) {
          const b = await box.boundingBox();
          expect(b?.width).toBeGreaterThan(300);
          expect(b?.height).toBeGreaterThan(20);
        }
        expect(await page.locator('svg.chart rect.bar').count()).toBeGreaterThan(19);
        expect(await page.locator('svg.chart polyline.line').count()).toBeGreaterThanOrEqual(2);
        // The stylesheet applied (the CSP allows it by hash): bars are filled with the accent colour.
        // (A page-side expression: this file is typed for Node, not the DOM.)
        expect(
          await page.evaluate(`getComputedStyle(document.querySelector('svg.chart rect.bar')).fill`),
        ).toBe('rgb(36, 88, 198)');
        expect(await page.locator('text=R-T3').count()).toBeGreaterThan(0);
        expect(problems).toEqual([]);

        const artifacts = path.join(repoRoot, 'test-artifacts');
        mkdirSync(artifacts, { recursive: true });
        await page.screenshot({ path: path.join(artifacts, 'report-day.png'), fullPage: true });
        await page.emulateMedia({ media: 'print' });
        const pdf = await page.pdf({ format: 'A4', printBackground: true, preferCSSPageSize: true });
        writeFileSync(path.join(artifacts, 'report-day.pdf'), pdf);
        expect(pdf.subarray(0, 5).toString('latin1')).toBe('%PDF-');
        expect(pdf.length).toBeGreaterThan(10_000);
      } finally {
        await browser.close();
      }
    },
    120_000,
  );
});
