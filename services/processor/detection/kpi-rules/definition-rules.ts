import { definitionRule, thresholdCrossed, type KpiDefinition } from '../../../shared/kpi/definitions.ts';
import { evaluateFormula, LATENCY_QUANTILES, type BaseMetric } from '../../../shared/kpi/formula.ts';
import { WINDOW_MS, type KpiLevel } from '../../kpi/window-state.ts';
import type { Hit } from '../hit.ts';
import type { MinuteTotals } from './entity-minutes.ts';

/**
 * The base metrics of a window's totals, with the meaning the api gives them in `/v1/kpis`
 * (kpi-query.ts): the same formula gives the same number in an alert and in a query.
 */
export function baseMetricOf(t: MinuteTotals, windowMs: number): (m: BaseMetric) => number | null {
  return (m) => {
    switch (m) {
      case 'count':
        return t.tx;
      case 'approved':
        return t.approved;
      case 'declined':
        return t.declined;
      case 'timeouts':
        return t.timeouts;
      case 'refunds':
        return t.refunds;
      case 'reversals':
        return t.reversals;
      case 'responses':
        return t.latency?.count ?? 0;
      case 'tps':
        return t.tx / (windowMs / 1000);
      case 'latency_p50_ms':
      case 'latency_p95_ms':
      case 'latency_p99_ms':
        return t.latency?.quantile(LATENCY_QUANTILES[m]) ?? null;
    }
  };
}

/**
 * Judges the user's KPI definitions (kpi_definitions) of one entity over the window of
 * `window_minutes` ending with `lastMinute`: a value beyond the critical threshold is a CRITICAL
 * hit, beyond the warning one a WARNING hit, of rule `kpi:<name>`. A window with fewer than
 * `min_count` transactions is not judged, nor one whose formula has no value (no traffic to divide
 * by): thresholds are about how the entity performs, not about silence.
 */
export function judgeDefinitions(
  definitions: readonly KpiDefinition[],
  level: KpiLevel,
  entityId: string,
  totals: (from: number, to: number) => MinuteTotals,
  asOf: number,
  lastMinute: number,
): Hit[] {
  const hits: Hit[] = [];
  for (const d of definitions) {
    if (!d.enabled || d.level !== level) continue;
    const end = lastMinute + WINDOW_MS;
    const windowMs = d.window_minutes * WINDOW_MS;
    const start = end - windowMs;
    const t = totals(start, end);
    if (t.tx < d.min_count) continue;
    const value = evaluateFormula(d.parsed, baseMetricOf(t, windowMs));
    if (value === null || !Number.isFinite(value)) continue;
    const severity = thresholdCrossed(d, value);
    if (severity === null) continue;
    const threshold = severity === 'CRITICAL' ? d.critical : d.warning;
    const shown = (v: number) => `${Number(v.toPrecision(6))}${d.unit === '' ? '' : ` ${d.unit}`}`;
    hits.push({
      rule: definitionRule(d.name),
      severity,
      level,
      entityId,
      windowStart: start,
      windowEnd: Math.max(start + 1, Math.min(end, asOf)),
      value,
      threshold,
      summary: `${d.name} of ${level.toLowerCase()} ${entityId} at ${shown(value)}, ${d.direction} the ${severity.toLowerCase()} threshold ${shown(threshold)} over ${d.window_minutes} min`,
      evidence: {
        formula: d.formula,
        value: String(value),
        unit: d.unit,
        ...(d.target === null ? {} : { target: String(d.target) }),
        warning: String(d.warning),
        critical: String(d.critical),
        transactions: String(t.tx),
      },
      eventIds: [],
      labels: { [level.toLowerCase()]: entityId, kpi: d.name },
    });
  }
  return hits;
}
