import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ValidationError } from '../shared/errors.ts';
import { INCIDENT_KINDS, type Incident, type Label } from './incidents.ts';

/**
 * The label file: one JSON object per line (JSONL), one line per incident, in schedule order:
 *
 * ```json
 * {"incident_id":"inc-001-card_testing","kind":"card_testing","entity_level":"TERMINAL","entity_ids":["T0000012"],"start":"2026-03-02T10:05:00.000Z","end":"2026-03-02T10:20:00.000Z","first_evidence":"2026-03-02T10:05:02.310Z","params":{"cards":[{"token":"…","token_key_id":"k1","bin":"42424242","last4":"4242"}],…}}
 * ```
 *
 * It names the entities a detector is expected to flag: terminal serials, a region, an acquirer,
 * or card tokens (the gateway's HMAC, never a card number). Card incidents also list BIN and last 4.
 */

/** The labels of the incidents that had started by `until` (ms), their ends cut to it. */
export function labelsUntil(incidents: readonly Incident[], until: number): Label[] {
  return incidents
    .filter((i) => i.start < until)
    .map((i) => (i.end <= until ? i.label : { ...i.label, end: new Date(until).toISOString() }));
}

export function formatLabels(labels: readonly Label[]): string {
  return labels.map((l) => `${JSON.stringify(l)}\n`).join('');
}

/**
 * Writes the whole file at once (a temporary file renamed over it), so a reader never sees half a
 * line: the simulator rewrites it when an incident is added and at the end of the run.
 */
export function writeLabelFile(path: string, labels: readonly Label[]): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, formatLabels(labels));
  renameSync(tmp, path);
}

const LEVELS = new Set(['TERMINAL', 'MERCHANT', 'REGION', 'ACQUIRER', 'CARD']);

/** Reads a label file's text back (for evaluation harnesses); a malformed line names its number. */
export function parseLabels(text: string): Label[] {
  const out: Label[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (err) {
      throw new ValidationError(`line ${i + 1}: not JSON (${(err as Error).message})`, `line ${i + 1}`);
    }
    const l = v as Partial<Label>;
    const ok =
      typeof l === 'object' &&
      l !== null &&
      typeof l.incident_id === 'string' &&
      (INCIDENT_KINDS as readonly string[]).includes(l.kind as string) &&
      LEVELS.has(l.entity_level as string) &&
      Array.isArray(l.entity_ids) &&
      typeof l.start === 'string' &&
      typeof l.end === 'string' &&
      (l.first_evidence === undefined || typeof l.first_evidence === 'string') &&
      typeof l.params === 'object';
    if (!ok) throw new ValidationError(`line ${i + 1}: not a label record`, `line ${i + 1}`);
    out.push(l as Label);
  });
  return out;
}
