import type { Report, Trend } from './report-query.ts';
import { KPI_NAMES } from './report-query.ts';

/**
 * The report as one long CSV table (RFC 4180, CRLF, UTF-8 with a BOM so spreadsheets detect the
 * encoding), one header: `section,item,metric,value,previous,change,relative_change`. Every table of
 * the report is a section; a pivot table on section/item/metric rebuilds any of them. Numbers are
 * written in full (amounts in minor units, rates as fractions); empty cells are nulls.
 */
export const CSV_HEADER = ['section', 'item', 'metric', 'value', 'previous', 'change', 'relative_change'];

type Cell = string | number | boolean | null | undefined;

/**
 * One CSV cell. Text starting with = + - @ (or tab, CR) gets a leading apostrophe, so a spreadsheet
 * shows it instead of evaluating it as a formula (an entity id or alert summary is outside data).
 * Numbers are ours and never start a formula, so negative changes stay numeric.
 */
export function csvCell(v: Cell): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : '';
  let s = String(v);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

export function csvLine(cells: readonly Cell[]): string {
  return cells.map(csvCell).join(',');
}

export function reportCsv(r: Report): string {
  const rows: Cell[][] = [];
  const add = (section: string, item: Cell, metric: string, value: Cell, t?: Omit<Trend, 'value'>) =>
    rows.push([section, item, metric, value, t?.previous, t?.change, t?.relative_change]);

  add('report', '', 'entity_level', r.entity.level);
  add('report', '', 'entity_id', r.entity.id);
  add('report', '', 'period', r.period.kind);
  add('report', '', 'period_label', r.period.label);
  add('report', '', 'from', r.period.from);
  add('report', '', 'to', r.period.to);
  add('report', '', 'complete', r.period.complete);
  add('report', '', 'previous_label', r.previous_period.label);
  add('report', '', 'generated_at', r.generated_at);
  for (const k of KPI_NAMES) add('kpi', '', k, r.kpis[k].value, r.kpis[k]);
  for (const a of r.amounts) add('amount', a.currency, 'approved_amount_minor', a.value, a);
  for (const p of r.series.points)
    for (const m of ['transactions', 'declined', 'timeouts', 'approval_rate', 'latency_p95_ms'] as const)
      add('series', p.start, m, p[m]);
  for (const [section, list] of [
    ['worst_by_approval_rate', r.worst_terminals.by_approval_rate],
    ['worst_by_timeouts', r.worst_terminals.by_timeouts],
  ] as const)
    list.forEach((t, i) => {
      add(section, t.terminal, 'rank', i + 1);
      for (const m of [
        'transactions',
        'approved',
        'declined',
        'timeouts',
        'approval_rate',
        'timeout_rate',
      ] as const)
        add(section, t.terminal, m, t[m]);
    });
  for (const d of r.decline_reasons) {
    add('decline_reason', d.code, 'count', d.count, {
      previous: d.previous,
      change: d.previous === null ? null : d.count - d.previous,
      relative_change: d.previous === null || d.previous === 0 ? null : (d.count - d.previous) / d.previous,
    });
    add('decline_reason', d.code, 'share', d.share);
  }
  add('alerts', '', 'total', r.alerts.total);
  for (const a of r.alerts.by_rule) add('alerts_by_rule', a.rule, a.severity, a.count);
  for (const a of r.alerts.items)
    for (const m of [
      'rule',
      'severity',
      'state',
      'entity_level',
      'entity_id',
      'fired_time',
      'resolved_time',
      'summary',
      'value',
      'threshold',
    ] as const)
      add('alert', a.alert_id, m, a[m]);
  for (const w of r.warnings) add('warning', w.code, 'message', w.message);

  return `\uFEFF${[CSV_HEADER, ...rows].map(csvLine).join('\r\n')}\r\n`;
}
