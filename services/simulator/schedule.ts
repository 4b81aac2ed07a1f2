import { parseDuration } from '../shared/config.ts';
import { ValidationError } from '../shared/errors.ts';
import { parseRfc3339 } from '../gateway/http/timestamps.ts';
import {
  INCIDENT_KINDS,
  KINDS,
  isIncidentKind,
  type IncidentKind,
  type IncidentSpec,
  type IncidentTargets,
} from './incidents.ts';
import { Rng } from './rng.ts';

/**
 * Where incidents come from: a JSON file, an automatic schedule drawn from the seed, or one on
 * demand (`--inject`, or a command while running). A file looks like
 *
 * ```json
 * { "incidents": [
 *   { "kind": "card_testing", "start": "+10m", "duration": "15m", "targets": { "terminal": "T0000012" } },
 *   { "kind": "acquirer_host_slowdown", "start": "2026-03-02T12:00:00Z", "end": "+45m", "params": { "latency_factor": 8 } }
 * ] }
 * ```
 *
 * `start` and `end` are RFC 3339 times with a zone, or offsets from the run's start (`+10m`); `end`
 * may be replaced by `duration`, and without either the kind's default duration applies. An end past
 * the run's end is cut to it, so a label never claims more than the data holds.
 */

export interface RunWindow {
  start: number;
  /** Infinity for a run without end. */
  end: number;
}

const TARGET_KEYS = ['terminal', 'terminals', 'merchant', 'region', 'acquirer'] as const;
const ENTRY_KEYS = new Set(['id', 'kind', 'start', 'end', 'duration', 'targets', 'params']);

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function fail(path: string, message: string): never {
  throw new ValidationError(`${path}: ${message}`, path);
}

/** `+10m` (from `origin`), an RFC 3339 time with zone, or epoch milliseconds. */
export function parseInstant(value: unknown, origin: number, path: string): number {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  if (typeof value === 'string') {
    if (value.startsWith('+')) {
      const ms = parseDuration(value.slice(1));
      if (ms !== undefined) return origin + ms;
      fail(path, `${JSON.stringify(value)} is not an offset like +90s, +10m, +2h`);
    }
    const ms = parseRfc3339(value);
    if (ms !== undefined) return ms;
  }
  fail(
    path,
    `expected an RFC 3339 time with a zone (2026-03-02T12:00:00Z), an offset from the run's start (+10m) or epoch milliseconds, got ${JSON.stringify(value)}`,
  );
}

function parseSpan(value: unknown, path: string): number {
  const ms = typeof value === 'number' ? value : typeof value === 'string' ? parseDuration(value) : undefined;
  if (ms === undefined || !Number.isFinite(ms) || ms <= 0)
    fail(path, `expected a duration like 90s, 15m, 2h, got ${JSON.stringify(value)}`);
  return ms;
}

function parseTargets(value: unknown, path: string): IncidentTargets | undefined {
  if (value === undefined) return undefined;
  if (!isObject(value)) fail(path, 'expected an object');
  const out: IncidentTargets = {};
  for (const [key, v] of Object.entries(value)) {
    if (!(TARGET_KEYS as readonly string[]).includes(key))
      fail(`${path}.${key}`, `unknown target (expected one of ${TARGET_KEYS.join(', ')})`);
    if (key === 'terminals') {
      if (!Array.isArray(v) || !v.every((s) => typeof s === 'string'))
        fail(`${path}.${key}`, 'expected a list of terminal serials');
      out.terminals = v as string[];
    } else {
      if (typeof v !== 'string' || v === '') fail(`${path}.${key}`, 'expected a non-empty string');
      out[key as Exclude<(typeof TARGET_KEYS)[number], 'terminals'>] = v;
    }
  }
  return out;
}

function parseParams(value: unknown, path: string): Record<string, number> | undefined {
  if (value === undefined) return undefined;
  if (!isObject(value)) fail(path, 'expected an object of numbers');
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== 'number' || !Number.isFinite(v))
      fail(`${path}.${key}`, `expected a number, got ${JSON.stringify(v)}`);
  }
  return value as Record<string, number>;
}

/** One entry of a schedule file; `run.start` anchors the `+offsets`. */
export function parseEntry(value: unknown, run: RunWindow, path: string): IncidentSpec {
  if (!isObject(value)) fail(path, 'expected an object with kind, start and end or duration');
  for (const key of Object.keys(value)) {
    if (!ENTRY_KEYS.has(key))
      fail(`${path}.${key}`, `unknown field (expected ${[...ENTRY_KEYS].join(', ')})`);
  }
  const kind = value['kind'];
  if (!isIncidentKind(kind))
    fail(`${path}.kind`, `expected one of ${INCIDENT_KINDS.join(', ')}, got ${JSON.stringify(kind)}`);
  const id = value['id'];
  if (id !== undefined && (typeof id !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(id))) {
    fail(`${path}.id`, 'expected 1 to 64 letters, digits, dots, dashes or underscores');
  }
  if (value['start'] === undefined) fail(`${path}.start`, 'missing');
  const start = parseInstant(value['start'], run.start, `${path}.start`);
  if (value['end'] !== undefined && value['duration'] !== undefined)
    fail(path, 'give end or duration, not both');
  let end =
    value['end'] !== undefined
      ? parseInstant(value['end'], run.start, `${path}.end`)
      : start +
        (value['duration'] !== undefined
          ? parseSpan(value['duration'], `${path}.duration`)
          : KINDS[kind].defaultDurationMs);
  if (end <= start) fail(`${path}.end`, 'must come after the start');
  if (start < run.start)
    fail(
      `${path}.start`,
      `${new Date(start).toISOString()} is before the run starts (${new Date(run.start).toISOString()})`,
    );
  if (start >= run.end)
    fail(
      `${path}.start`,
      `${new Date(start).toISOString()} is not before the run ends (${new Date(run.end).toISOString()})`,
    );
  end = Math.min(end, run.end);
  const spec: IncidentSpec = { kind, start, end };
  if (typeof id === 'string') spec.id = id;
  const targets = parseTargets(value['targets'], `${path}.targets`);
  if (targets !== undefined) spec.targets = targets;
  const params = parseParams(value['params'], `${path}.params`);
  if (params !== undefined) spec.params = params;
  return spec;
}

/**
 * A parsed schedule document: `{"incidents": [...]}` or a bare array. Errors are ValidationErrors
 * whose path names the entry and field (`incidents[2].start`).
 */
export function parseSchedule(doc: unknown, run: RunWindow): IncidentSpec[] {
  const list = Array.isArray(doc) ? doc : isObject(doc) ? doc['incidents'] : undefined;
  if (isObject(doc)) {
    for (const key of Object.keys(doc))
      if (key !== 'incidents') fail(key, 'unknown top-level field (expected "incidents")');
  }
  if (!Array.isArray(list))
    fail('incidents', 'expected a list of incidents ({"incidents": [...]} or a bare array)');
  const specs = list.map((entry, i) => parseEntry(entry, run, `incidents[${i}]`));
  const ids = new Set<string>();
  specs.forEach((s, i) => {
    if (s.id === undefined) return;
    if (ids.has(s.id)) fail(`incidents[${i}].id`, `${s.id} is used twice`);
    ids.add(s.id);
  });
  return specs;
}

/** Parses the text of a schedule file; `source` names it in a JSON syntax error. */
export function parseScheduleText(text: string, run: RunWindow, source: string): IncidentSpec[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new ValidationError(`${source} is not valid JSON: ${(err as Error).message}`, '');
  }
  return parseSchedule(doc, run);
}

/**
 * One incident on demand: `kind[@start][/duration][,key=value…]`, where start is `+2m` from `now`
 * (default: now) or an RFC 3339 time, and each key is a target (terminal, merchant, region,
 * acquirer) or a parameter of the kind: `card_testing@+1m/10m,terminal=T0000005,cards=60`.
 */
export function parseOnDemand(text: string, now: number): IncidentSpec {
  const [head = '', ...pairs] = text.split(',').map((s) => s.trim());
  const m = /^([a-z_]+)(?:@([^/]+))?(?:\/(.+))?$/.exec(head);
  if (m === null) fail('inject', `${JSON.stringify(text)} is not kind[@start][/duration][,key=value…]`);
  const kind = m[1];
  if (!isIncidentKind(kind))
    fail('inject', `unknown kind ${JSON.stringify(kind)} (expected one of ${INCIDENT_KINDS.join(', ')})`);
  const start = m[2] === undefined ? now : parseInstant(m[2], now, 'inject start');
  const end =
    start + (m[3] === undefined ? KINDS[kind].defaultDurationMs : parseSpan(m[3], 'inject duration'));
  const targets: IncidentTargets = {};
  const params: Record<string, number> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) fail('inject', `${JSON.stringify(pair)} is not key=value`);
    const key = pair.slice(0, eq);
    const value = pair.slice(eq + 1);
    if (key === 'terminals') targets.terminals = value.split('+');
    else if ((TARGET_KEYS as readonly string[]).includes(key))
      targets[key as Exclude<(typeof TARGET_KEYS)[number], 'terminals'>] = value;
    else if (key in KINDS[kind].params) {
      const n = Number(value);
      if (value === '' || !Number.isFinite(n))
        fail(`inject ${key}`, `expected a number, got ${JSON.stringify(value)}`);
      params[key] = n;
    } else {
      fail(
        `inject ${key}`,
        `not a target (${TARGET_KEYS.join(', ')}) nor a parameter of ${kind} (${Object.keys(KINDS[kind].params).join(', ')})`,
      );
    }
  }
  const spec: IncidentSpec = { kind, start, end };
  if (Object.keys(targets).length > 0) spec.targets = targets;
  if (Object.keys(params).length > 0) spec.params = params;
  return spec;
}

export interface AutoScheduleOptions {
  /** Mean quiet time between the end of one incident and the start of the next. */
  meanGapMs: number;
  minDurationMs: number;
  maxDurationMs: number;
  /** Quiet time at the start of the run, so detectors see normal traffic first. @default min(5 min, 10 % of the run) */
  warmupMs?: number;
}

export const DEFAULT_AUTO_SCHEDULE: Readonly<AutoScheduleOptions> = Object.freeze({
  meanGapMs: 10 * 60_000,
  minDurationMs: 5 * 60_000,
  maxDurationMs: 20 * 60_000,
});

/** The shortest window worth scheduling at the end of a run. */
const MIN_SLOT_MS = 60_000;

export interface Slot {
  start: number;
  end: number;
}

/**
 * Incidents one after another with quiet gaps, kinds in a seed-shuffled cycle. It offers a slot and
 * the kinds in cycle order; the caller takes the first kind that can be placed there (off-hours
 * activity needs a closed merchant, impossible travel two regions) and reports it with `used`.
 * Lazy, so a run without end keeps getting incidents.
 */
export class AutoSchedule {
  private readonly rng: Rng;
  private cursor: number;
  private readonly cycle: IncidentKind[];
  private position = 0;

  constructor(
    seed: string,
    private readonly run: RunWindow,
    private readonly options: AutoScheduleOptions = DEFAULT_AUTO_SCHEDULE,
  ) {
    if (options.minDurationMs > options.maxDurationMs) throw new RangeError('minDurationMs > maxDurationMs');
    this.rng = Rng.from(seed, 'auto-schedule');
    this.cycle = this.rng.shuffle([...INCIDENT_KINDS]);
    const length = run.end - run.start;
    this.cursor =
      run.start +
      (options.warmupMs ?? Math.min(5 * 60_000, Number.isFinite(length) ? length / 10 : 5 * 60_000));
  }

  /** Start of the next slot (Infinity when the run has no room left). */
  get nextStart(): number {
    return this.cursor + MIN_SLOT_MS <= this.run.end ? this.cursor : Infinity;
  }

  nextSlot(): Slot | undefined {
    const start = this.cursor;
    if (start + MIN_SLOT_MS > this.run.end) return undefined;
    const duration = this.rng.int(this.options.minDurationMs, this.options.maxDurationMs);
    const end = Math.min(this.run.end, start + duration);
    this.cursor = end + Math.round(this.rng.float(0.5, 1.5) * this.options.meanGapMs);
    return { start, end };
  }

  /** Every kind, starting with the next one due. */
  candidates(): IncidentKind[] {
    return [...this.cycle.slice(this.position), ...this.cycle.slice(0, this.position)];
  }

  used(kind: IncidentKind): void {
    this.position = (this.cycle.indexOf(kind) + 1) % this.cycle.length;
  }
}
