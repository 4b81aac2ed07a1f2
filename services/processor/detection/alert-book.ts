import { createHash } from 'node:crypto';
import type { Alert } from '../../shared/avro/types.generated.ts';
import type { Hit, HitLevel, RuleSeverity } from './hit.ts';

/** A flag: one hit as stored, with the alert it belongs to. */
export interface Flag {
  readonly flagId: string;
  readonly alertId: string;
  readonly hit: Hit;
}

export interface BookOutput {
  readonly flags: Flag[];
  /** FIRING and RESOLVED records, in the order they happened. */
  readonly alerts: Alert[];
  /** Open alerts whose latest evidence was flagged again: their stored state moves on (no new record). */
  readonly updated?: Alert[];
}

/** Gathers several book outputs into one, in order (a batch judged minute by minute). */
export function bookOutputs(): { out: Required<BookOutput>; add: (o: BookOutput) => void } {
  const out: Required<BookOutput> = { flags: [], alerts: [], updated: [] };
  return {
    out,
    add: (o) => {
      out.flags.push(...o.flags);
      out.alerts.push(...o.alerts);
      out.updated.push(...(o.updated ?? []));
    },
  };
}

/** What the book keeps of an open alert; also what restoring needs. */
export interface OpenAlert {
  readonly alertId: string;
  readonly rule: string;
  /** Raised while open when a hit is more severe (a KPI definition's critical threshold). */
  severity: RuleSeverity;
  readonly level: HitLevel;
  readonly entityId: string;
  readonly windowStart: number;
  windowEnd: number;
  readonly firedTime: number;
  /** Event time of the latest hit: the alert resolves resolve_after later without another. */
  lastHitTime: number;
  /** Event time of the latest flag written for it. */
  lastFlagTime: number;
  summary: string;
  value: number | null;
  threshold: number | null;
  evidence: Record<string, string>;
  labels: Record<string, string>;
}

const SEVERITY_RANK: Record<RuleSeverity, number> = { INFO: 0, WARNING: 1, CRITICAL: 2 };

/** Hits of an open alert less than this apart (event time) make one flag. */
export const FLAG_INTERVAL_MS = 60_000;

/** A UUID (version 5 layout) from the SHA-1 of the parts: the same input gives the same id. */
export function uuidFrom(...parts: readonly (string | number)[]): string {
  const h = createHash('sha1').update(parts.join('\u0000')).digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

const keyOf = (rule: string, level: string, entityId: string): string =>
  `${rule}\u0000${level}\u0000${entityId}`;

/**
 * One open alert per (rule, entity). The first hit opens it (FIRING record + flag); later hits
 * keep it open and add a flag at most every FLAG_INTERVAL_MS; once a rule has not hit an entity for
 * its resolve_after (event time, as `tick` is told), the alert resolves (RESOLVED record).
 *
 * Ids are derived from the rule, the entity and the evidence's time, so processing the same events
 * again gives the same ids.
 */
export class AlertBook {
  private readonly open = new Map<string, OpenAlert>();

  constructor(private readonly resolveAfter: (rule: string) => number) {}

  get size(): number {
    return this.open.size;
  }

  /** Open alerts, e.g. for a status page or tests. */
  get openAlerts(): readonly OpenAlert[] {
    return [...this.open.values()];
  }

  isOpen(rule: string, level: string, entityId: string): boolean {
    return this.open.has(keyOf(rule, level, entityId));
  }

  record(hits: readonly Hit[]): BookOutput {
    const out = { flags: [] as Flag[], alerts: [] as Alert[], updated: [] as Alert[] };
    for (const hit of hits) {
      const key = keyOf(hit.rule, hit.level, hit.entityId);
      const known = this.open.get(key);
      const flagId = uuidFrom(
        'flag',
        hit.rule,
        hit.level,
        hit.entityId,
        hit.windowStart,
        hit.windowEnd,
        hit.eventIds[0] ?? '',
      );
      if (known === undefined) {
        const a: OpenAlert = {
          // The first hit's whole window: a re-fire soon after a resolve, whose evidence may start
          // at the same time, still gets an id of its own.
          alertId: uuidFrom('alert', hit.rule, hit.level, hit.entityId, hit.windowStart, hit.windowEnd),
          rule: hit.rule,
          severity: hit.severity,
          level: hit.level,
          entityId: hit.entityId,
          windowStart: hit.windowStart,
          windowEnd: hit.windowEnd,
          firedTime: hit.windowEnd,
          lastHitTime: hit.windowEnd,
          lastFlagTime: hit.windowEnd,
          summary: hit.summary,
          value: hit.value,
          threshold: hit.threshold,
          evidence: { ...hit.evidence },
          labels: { ...hit.labels },
        };
        this.open.set(key, a);
        out.alerts.push(alertRecord(a, 'FIRING', null));
        out.flags.push({ flagId, alertId: a.alertId, hit });
        continue;
      }
      known.lastHitTime = Math.max(known.lastHitTime, hit.windowEnd);
      known.windowEnd = Math.max(known.windowEnd, hit.windowEnd);
      known.summary = hit.summary;
      known.value = hit.value;
      known.threshold = hit.threshold;
      known.evidence = { ...hit.evidence };
      if (SEVERITY_RANK[hit.severity] > SEVERITY_RANK[known.severity]) {
        // Escalation is news: a new FIRING record of the same alert, so subscribers hear of it.
        // It never steps back down while open; the alert resolves when the value is back in bounds.
        known.severity = hit.severity;
        known.lastFlagTime = hit.windowEnd;
        out.flags.push({ flagId, alertId: known.alertId, hit });
        out.alerts.push(alertRecord(known, 'FIRING', null));
      } else if (hit.windowEnd - known.lastFlagTime >= FLAG_INTERVAL_MS) {
        known.lastFlagTime = hit.windowEnd;
        out.flags.push({ flagId, alertId: known.alertId, hit });
        out.updated.push(alertRecord(known, 'FIRING', null));
      }
    }
    return out;
  }

  /** Resolves the alerts whose rule has been quiet for its resolve_after at event time `now`. */
  tick(now: number): Alert[] {
    const out: Alert[] = [];
    for (const [key, a] of this.open) {
      if (now - a.lastHitTime < this.resolveAfter(a.rule)) continue;
      this.open.delete(key);
      out.push(alertRecord(a, 'RESOLVED', Math.max(now, a.lastHitTime)));
    }
    return out;
  }

  /** Closes every open alert of a rule that was disabled. */
  resolveRule(rule: string, now: number): Alert[] {
    const out: Alert[] = [];
    for (const [key, a] of this.open) {
      if (a.rule !== rule) continue;
      this.open.delete(key);
      out.push(alertRecord(a, 'RESOLVED', Math.max(now, a.lastHitTime)));
    }
    return out;
  }

  /** Takes back alerts that were FIRING when the previous owner stopped (from the alerts table). */
  restore(alerts: readonly OpenAlert[]): void {
    for (const a of alerts) this.open.set(keyOf(a.rule, a.level, a.entityId), { ...a });
  }

  /** Forgets the open alerts whose entity `keep` rejects (a partition moved away). */
  retain(keep: (a: OpenAlert) => boolean): void {
    for (const [key, a] of this.open) if (!keep(a)) this.open.delete(key);
  }
}

export function alertRecord(a: OpenAlert, state: 'FIRING' | 'RESOLVED', resolvedTime: number | null): Alert {
  return {
    alert_id: a.alertId,
    rule: a.rule,
    severity: a.severity,
    state,
    entity_level: a.level,
    entity_id: a.entityId,
    window_start: a.windowStart,
    window_end: a.windowEnd,
    fired_time: a.firedTime,
    resolved_time: resolvedTime,
    summary: a.summary,
    value: a.value,
    threshold: a.threshold,
    evidence: { ...a.evidence },
    labels: { ...a.labels },
  };
}
