import type { RunReport, Progress } from './runner.ts';
import type { SinkStats } from './sink.ts';

/** One progress line for stderr; never event contents. */

function clock(ms: number): string {
  const s = Math.floor(ms / 1000);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(Math.floor(s / 3600))}:${two(Math.floor(s / 60) % 60)}:${two(s % 60)}`;
}

function outcome(s: SinkStats): string {
  return `accepted ${s.accepted}, duplicates ${s.duplicates}, rejected ${s.rejected}, failed ${s.failed}`;
}

export function formatProgress(p: Progress): string {
  const active =
    p.active.length === 0
      ? 'none'
      : p.active
          .map(
            (i) =>
              `${i.kind}(${i.label.entity_ids
                .slice(0, 2)
                .map((e) => (e.length > 16 ? `${e.slice(0, 8)}…` : e))
                .join(',')}${i.label.entity_ids.length > 2 ? ',…' : ''})`,
          )
          .join(' ');
  const parts = [
    `[simulator] ${clock(p.wallElapsedMs)}`,
    `sim ${new Date(p.simTime).toISOString()}`,
    `sent ${p.transactions} tx + ${p.heartbeats} hb (${p.eventsPerSecond.toFixed(1)}/s)`,
    outcome(p.sink),
    `incidents: ${active}`,
  ];
  if (p.behindMs >= 1000) parts.push(`behind ${(p.behindMs / 1000).toFixed(1)}s`);
  if (p.sink.lastError !== undefined && (p.sink.failed > 0 || p.sink.rejected > 0))
    parts.push(`last error: ${p.sink.lastError}`);
  return parts.join(' | ');
}

export function formatSummary(r: RunReport, sink: string): string {
  const lines = [
    `[simulator] ${r.stoppedEarly ? 'stopped' : 'done'}: ${new Date(r.from).toISOString()} to ${new Date(r.to).toISOString()} simulated in ${(r.wallMs / 1000).toFixed(1)}s`,
    `[simulator] ${sink}: sent ${r.sink.sent.transactions} transactions and ${r.sink.sent.heartbeats} heartbeats; ${outcome(r.sink)}; ${r.labels.length} incidents`,
  ];
  const reasons = Object.entries(r.sink.rejections);
  if (reasons.length > 0)
    lines.push(`[simulator] rejected by reason: ${reasons.map(([c, n]) => `${c} ${n}`).join(', ')}`);
  for (const s of r.sink.rejectionSamples.slice(0, 5)) {
    lines.push(
      `[simulator]   e.g. ${s.event_id}: ${s.code}${s.path ? ` at ${s.path}` : ''}${s.message ? ` (${s.message})` : ''}`,
    );
  }
  if (r.sink.lastError !== undefined && r.sink.failed > 0)
    lines.push(`[simulator] last error: ${r.sink.lastError}`);
  return lines.join('\n');
}
