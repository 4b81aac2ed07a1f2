/*
 * What the wall shows, folded from the live protocol's frames (docs/LIVE_PROTOCOL.md). No DOM here:
 * wall.ts renders it; unit tests drive it with frames.
 */

export type Status = 'ONLINE' | 'DEGRADED' | 'OFFLINE' | 'UNKNOWN';

export interface Terminal {
  terminal_serial: string;
  status: Status;
  reasons: string[];
  region: string | null;
  merchant_id: string | null;
  merchant_name: string | null;
  since: number;
}

export interface Alert {
  alert_id: string;
  rule: string;
  severity: string;
  state: 'FIRING' | 'RESOLVED';
  entity_level: string;
  entity_id: string;
  summary: string;
  fired_time: number;
  resolved_time: number | null;
}

export interface Kpis {
  tps: number;
  approval_rate: number | null;
  latency_p95_ms: number | null;
  as_of: number;
}

export interface Minute {
  minute: number;
  tps: number;
  approval_rate: number | null;
  latency_p95_ms: number | null;
}

export interface Summary {
  time: number;
  terminals: number;
  statuses: Record<Status, number>;
  kpis: Kpis | null;
}

type Frame = Record<string, unknown> & { type?: unknown };

const MAX_ALERTS = 30;
const MAX_MINUTES = 60;

export class WallState {
  readonly terminals = new Map<string, Terminal>();
  alerts: Alert[] = [];
  series: Minute[] = [];
  summary: Summary | undefined;
  epoch: string | undefined;
  seq = 0;
  /** Local time of the last frame that proves the feed is alive (summary every second). */
  lastLiveAt = 0;

  /** Folds one frame; returns whether anything shown changed. */
  apply(frame: Frame, now: number): boolean {
    switch (frame.type) {
      case 'welcome': {
        if (frame['epoch'] !== this.epoch) this.terminals.clear();
        this.epoch = frame['epoch'] as string;
        this.alerts = [...(frame['alerts'] as Alert[])].reverse().slice(0, MAX_ALERTS);
        this.series = (frame['kpi_series'] as Minute[] | undefined) ?? [];
        this.lastLiveAt = now;
        return true;
      }
      case 'snapshot': {
        this.terminals.clear();
        for (const t of frame['terminals'] as Terminal[]) this.terminals.set(t.terminal_serial, t);
        this.seq = frame['seq'] as number;
        return true;
      }
      case 'delta': {
        for (const c of frame['changes'] as (Terminal | { terminal_serial: string; left: true })[]) {
          if ('left' in c) this.terminals.delete(c.terminal_serial);
          else this.terminals.set(c.terminal_serial, c);
        }
        this.seq = frame['seq'] as number;
        return true;
      }
      case 'summary': {
        const s = frame as unknown as Summary;
        this.summary = { time: s.time, terminals: s.terminals, statuses: s.statuses, kpis: s.kpis };
        this.lastLiveAt = now;
        const k = s.kpis;
        if (k !== null) {
          const last = this.series.at(-1);
          const minute = {
            minute: k.as_of,
            tps: k.tps,
            approval_rate: k.approval_rate,
            latency_p95_ms: k.latency_p95_ms,
          };
          if (last === undefined || last.minute < k.as_of) this.series.push(minute);
          else if (last.minute === k.as_of) this.series[this.series.length - 1] = minute;
          if (this.series.length > MAX_MINUTES) this.series.splice(0, this.series.length - MAX_MINUTES);
        }
        return true;
      }
      case 'alert': {
        const a = frame['alert'] as Alert;
        this.alerts = [
          a,
          ...this.alerts.filter(
            (x) => !(x.alert_id === a.alert_id && a.state === 'RESOLVED' && x.state === 'FIRING'),
          ),
        ].slice(0, MAX_ALERTS);
        return true;
      }
      default:
        return false;
    }
  }

  /** Whether the feed went quiet: no summary for `afterMs`. */
  stale(now: number, afterMs = 3_000): boolean {
    return now - this.lastLiveAt > afterMs;
  }

  /** Terminals by region (unknown region last), each sorted by serial. */
  byRegion(): [string, Terminal[]][] {
    const groups = new Map<string, Terminal[]>();
    for (const t of this.terminals.values()) {
      const key = t.region ?? '—';
      let list = groups.get(key);
      if (list === undefined) groups.set(key, (list = []));
      list.push(t);
    }
    for (const list of groups.values()) list.sort((a, b) => (a.terminal_serial < b.terminal_serial ? -1 : 1));
    return [...groups].sort(([a], [b]) => (a === '—' ? 1 : b === '—' ? -1 : a < b ? -1 : 1));
  }

  /** Offline then degraded terminals, longest in that state first. */
  problemTerminals(limit = 8): Terminal[] {
    const rank = (s: Status) => (s === 'OFFLINE' ? 0 : 1);
    return [...this.terminals.values()]
      .filter((t) => t.status === 'OFFLINE' || t.status === 'DEGRADED')
      .sort((a, b) => rank(a.status) - rank(b.status) || a.since - b.since)
      .slice(0, limit);
  }

  /** Merchants with the most offline or degraded terminals. */
  problemMerchants(limit = 6): { merchant: string; name: string | null; down: number; of: number }[] {
    const m = new Map<string, { merchant: string; name: string | null; down: number; of: number }>();
    for (const t of this.terminals.values()) {
      if (t.merchant_id === null) continue;
      let e = m.get(t.merchant_id);
      if (e === undefined)
        m.set(t.merchant_id, (e = { merchant: t.merchant_id, name: t.merchant_name, down: 0, of: 0 }));
      e.of += 1;
      if (t.status === 'OFFLINE' || t.status === 'DEGRADED') e.down += 1;
    }
    return [...m.values()]
      .filter((e) => e.down > 0)
      .sort((a, b) => b.down - a.down || b.down / b.of - a.down / a.of || (a.merchant < b.merchant ? -1 : 1))
      .slice(0, limit);
  }
}
