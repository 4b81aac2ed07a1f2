import type { Gauge } from 'prom-client';
import { gauge, type Registry } from '../../shared/metrics.ts';

/** What a detection stage holds per partition, as far as its gauges are concerned. */
export interface GaugedPartition {
  readonly book: { readonly size: number };
  readonly rules: readonly { readonly definition: { readonly name: string }; readonly size: number }[];
}

/** Sets the state-entries gauge per rule and the open-alerts gauge over the partitions held. */
export function setDetectionGauges(
  partitions: Iterable<GaugedPartition>,
  m: { readonly state: Gauge<'rule'>; readonly open: Gauge<string> },
): void {
  const byRule = new Map<string, number>();
  let open = 0;
  for (const p of partitions) {
    open += p.book.size;
    for (const r of p.rules) byRule.set(r.definition.name, (byRule.get(r.definition.name) ?? 0) + r.size);
  }
  for (const [rule, n] of byRule) m.state.set({ rule }, n);
  m.open.set({}, open);
}

/** A stage's two gauges: the state entries per rule (shared by every stage) and its open alerts. */
export function detectionGauges(
  r: Registry,
  open: { name: string; help: string },
): { state: Gauge<'rule'>; open: Gauge<string> } {
  return {
    state: gauge(
      r,
      'pospulse_processor_detection_state_entries',
      'Entries held by detection rules, by rule.',
      ['rule'],
    ),
    open: gauge(r, open.name, open.help, []),
  };
}
