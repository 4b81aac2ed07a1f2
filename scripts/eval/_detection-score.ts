import type { IncidentKind, Label } from '../../services/simulator/incidents.ts';

/*
 * Scores detection alerts against the simulator's labels (npm run eval:detection, docs/DETECTION.md
 * "Evaluation"). Pure: the runner gathers the alerts and the incidents' entity scopes.
 */

/** An alert as read back from the `alerts` table (one per alert id). */
export interface EvalAlert {
  rule: string;
  level: string;
  entityId: string;
  /** Event time the alert started firing. */
  firedTime: number;
  summary?: string;
}

/**
 * One labelled incident with the entities alerts may name for it, as `LEVEL:id` keys:
 * `own` are the label's entities; `related` adds what they belong to or contain (a terminal's
 * merchant, region and acquirer; a region's merchants and terminals; a ring's terminals…).
 */
export interface ScopedIncident {
  label: Label;
  start: number;
  end: number;
  /** The label's first_evidence: the earliest moment the events show the incident. */
  firstEvidence: number;
  own: ReadonlySet<string>;
  related: ReadonlySet<string>;
}

/**
 * What each incident kind should raise. `detects`: the rules whose recall it measures — one alert
 * of the rule on one of the incident's entities (`own`, or `related` where marked) during the
 * incident counts as detecting it. `explains`: the rules whose alerts on `related` entities during
 * the incident are its consequences, not false alarms (a card-testing burst raises the merchant's
 * decline share; mostly keyed card numbers raise the terminal's manual-entry share).
 */
export const EXPECTED: Record<
  IncidentKind,
  { detects: { rule: string; related?: boolean }[]; explains: string[] }
> = {
  terminal_outage: { detects: [{ rule: 'terminal_silent' }], explains: ['terminal_silent'] },
  regional_network_degradation: {
    detects: [{ rule: 'timeout_spike' }],
    explains: ['timeout_spike', 'latency_spike', 'decline_spike', 'terminal_silent'],
  },
  acquirer_host_slowdown: {
    detects: [{ rule: 'latency_spike' }],
    explains: ['latency_spike', 'timeout_spike'],
  },
  card_testing: {
    detects: [{ rule: 'card_testing' }, { rule: 'decline_spike', related: true }],
    // Testers retry a number now and then, sometimes with the same small amount: a duplicate.
    explains: ['card_testing', 'decline_spike', 'fallback_spike', 'duplicate_transaction'],
  },
  velocity_fraud_ring: {
    detects: [{ rule: 'velocity' }, { rule: 'amount_outlier', related: true }],
    explains: ['velocity', 'amount_outlier', 'impossible_travel'],
  },
  refund_abuse: { detects: [{ rule: 'refund_abuse' }], explains: ['refund_abuse'] },
  duplicate_submissions: {
    detects: [{ rule: 'duplicate_transaction' }],
    explains: ['duplicate_transaction'],
  },
  impossible_travel: {
    detects: [{ rule: 'impossible_travel' }],
    explains: ['impossible_travel', 'velocity'],
  },
  magstripe_fallback_spike: {
    detects: [{ rule: 'fallback_spike' }],
    explains: ['fallback_spike', 'decline_spike', 'card_testing'],
  },
  off_hours_activity: { detects: [{ rule: 'off_hours' }], explains: ['off_hours', 'amount_outlier'] },
};

export interface RuleScore {
  rule: string;
  /** Incidents whose recall this rule is measured on. */
  incidents: number;
  detected: number;
  recall: number | null;
  /** Alerts of the rule fired in the evaluated span. */
  alerts: number;
  /** Of those, alerts some incident explains. */
  explained: number;
  precision: number | null;
  /** Incident start to first detecting alert, ms, per detected incident. */
  delays: number[];
  medianDelayMs: number | null;
  maxDelayMs: number | null;
  /** The incident's first evidence to that alert, ms (0 when it fired on that very event). */
  evidenceDelays: number[];
  medianEvidenceDelayMs: number | null;
  /** Alerts of the rule before the evaluated span (clean history: all false alarms). */
  historyAlerts: number;
  /** The incidents it missed (ids). */
  missed: string[];
  /** The alerts no incident explains (`LEVEL:id at time: summary`). */
  unexplained: string[];
}

export interface ScoreOptions {
  /** The evaluated span: alerts fired in [from, to) are judged; earlier ones are history. */
  from: number;
  to: number;
  /** Alerts up to this long after an incident ends still belong to it. */
  graceMs: number;
  /** Every rule the processor ran, so rules without incidents or alerts still get a row. */
  rules: readonly string[];
}

function median(xs: readonly number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

const keyOf = (a: EvalAlert): string => `${a.level}:${a.entityId}`;

/** Whether `a` fell within the incident (from its start to its end plus grace). */
function during(a: EvalAlert, i: ScopedIncident, graceMs: number): boolean {
  return a.firedTime >= i.start && a.firedTime <= i.end + graceMs;
}

export function scoreDetection(
  incidents: readonly ScopedIncident[],
  alerts: readonly EvalAlert[],
  options: ScoreOptions,
): RuleScore[] {
  const rules = new Set(options.rules);
  for (const a of alerts) rules.add(a.rule);
  const out: RuleScore[] = [];
  for (const rule of [...rules].sort()) {
    const mine = alerts.filter((a) => a.rule === rule);
    const judged = mine.filter((a) => a.firedTime >= options.from && a.firedTime < options.to);
    const delays: number[] = [];
    const evidenceDelays: number[] = [];
    const missed: string[] = [];
    let measured = 0;
    for (const i of incidents) {
      const want = EXPECTED[i.label.kind].detects.find((d) => d.rule === rule);
      if (want === undefined) continue;
      measured += 1;
      const scope = want.related === true ? i.related : i.own;
      const hits = judged.filter((a) => scope.has(keyOf(a)) && during(a, i, options.graceMs));
      if (hits.length === 0) missed.push(i.label.incident_id);
      else {
        const first = Math.min(...hits.map((a) => a.firedTime));
        delays.push(first - i.start);
        evidenceDelays.push(Math.max(0, first - i.firstEvidence));
      }
    }
    const unexplained: string[] = [];
    let explained = 0;
    for (const a of judged) {
      const ok = incidents.some(
        (i) =>
          EXPECTED[i.label.kind].explains.includes(rule) &&
          (i.own.has(keyOf(a)) || i.related.has(keyOf(a))) &&
          during(a, i, options.graceMs),
      );
      if (ok) explained += 1;
      else
        unexplained.push(
          `${keyOf(a).slice(0, 24)} at ${new Date(a.firedTime).toISOString()}${a.summary === undefined ? '' : `: ${a.summary}`}`,
        );
    }
    out.push({
      rule,
      incidents: measured,
      detected: delays.length,
      recall: measured === 0 ? null : delays.length / measured,
      alerts: judged.length,
      explained,
      precision: judged.length === 0 ? null : explained / judged.length,
      delays,
      medianDelayMs: median(delays),
      maxDelayMs: delays.length === 0 ? null : Math.max(...delays),
      evidenceDelays,
      medianEvidenceDelayMs: median(evidenceDelays),
      historyAlerts: mine.filter((a) => a.firedTime < options.from).length,
      missed,
      unexplained,
    });
  }
  return out;
}

const pct = (x: number | null): string => (x === null ? '–' : x.toFixed(2));
const secs = (ms: number | null): string => (ms === null ? '–' : `${Math.round(ms / 1000)} s`);

/** The table docs/DETECTION.md shows (markdown), with a last row over every detection. */
export function renderScores(scores: readonly RuleScore[]): string {
  const lines = [
    '| Rule | Incidents | Detected | Recall | Alerts | Explained | Precision | Median delay | Max delay | Median delay from first evidence | Alerts on clean history |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const s of scores) {
    lines.push(
      `| \`${s.rule}\` | ${s.incidents} | ${s.detected} | ${pct(s.recall)} | ${s.alerts} | ${s.explained} | ${pct(s.precision)} | ${secs(s.medianDelayMs)} | ${secs(s.maxDelayMs)} | ${secs(s.medianEvidenceDelayMs)} | ${s.historyAlerts} |`,
    );
  }
  const sum = (f: (s: RuleScore) => number) => scores.reduce((n, s) => n + f(s), 0);
  const all = scores.flatMap((s) => s.delays);
  const allEvidence = scores.flatMap((s) => s.evidenceDelays);
  const [incidents, detected, alerts, explained] = [
    sum((s) => s.incidents),
    sum((s) => s.detected),
    sum((s) => s.alerts),
    sum((s) => s.explained),
  ];
  lines.push(
    `| all rules | ${incidents} | ${detected} | ${pct(incidents === 0 ? null : detected / incidents)} | ${alerts} | ${explained} | ${pct(alerts === 0 ? null : explained / alerts)} | ${secs(median(all))} | ${secs(all.length === 0 ? null : Math.max(...all))} | ${secs(median(allEvidence))} | ${sum((s) => s.historyAlerts)} |`,
  );
  return lines.join('\n');
}
