import { ValidationError } from '../shared/errors.ts';
import type { TokenKeys } from '../gateway/card-data.ts';
import { compareEvents, operationKey, type SimEvent, type SimTransaction } from './events.ts';
import { buildFleet, type Fleet, type FleetOptions } from './fleet.ts';
import {
  IncidentPlacementError,
  resolveIncident,
  type Incident,
  type IncidentKind,
  type IncidentSpec,
  type Label,
} from './incidents.ts';
import { labelsUntil } from './labels.ts';
import { DEFAULT_MIX, type Mix } from './mix.ts';
import { AutoSchedule, DEFAULT_AUTO_SCHEDULE, type AutoScheduleOptions } from './schedule.ts';
import { CardBook, TICK_MS, TrafficGenerator } from './traffic.ts';

/**
 * The simulator as a library: a fleet, its normal traffic and its incidents over a window of
 * simulated time, stepped one tick at a time. No I/O: `runSimulation` (runner.ts) paces it and hands
 * the events to a sink; an evaluation harness may read `events()` and `labels` directly.
 *
 *   const sim = new Simulator({ seed: '7', fleet: { terminals: 50 }, rate: 20, start, end, incidents: 'auto', tokenKeys });
 *   for (const ev of sim.events()) …;   sim.labels …
 *
 * Deterministic: the same options (seed, sizes, rate, start, end, incidents, idSalt) give the same
 * events and labels. Event ids are salted with `idSalt` (default: the start time) so two runs of one
 * seed at different times never share ids downstream.
 */

export interface SimulatorOptions {
  seed: string;
  fleet: Omit<FleetOptions, 'seed'>;
  /** Average transactions per second of the whole fleet. */
  rate: number;
  /** @default 60 s */
  heartbeatIntervalMs?: number;
  /** Simulated window [start, end) in ms since the epoch; `end` Infinity for a run without end. */
  start: number;
  end: number;
  /** @default 'none' */
  incidents?: 'none' | 'auto' | readonly IncidentSpec[];
  autoSchedule?: Partial<AutoScheduleOptions>;
  /** The gateway's token keys (GATEWAY_TOKEN_KEYS format): labels of card incidents name tokens. */
  tokenKeys?: TokenKeys | undefined;
  idSalt?: string;
  mix?: Mix;
}

export const DEFAULT_HEARTBEAT_INTERVAL_MS = 60_000;

// The rest of what a harness needs, from one module.
export { runSimulation, type Progress, type RunOptions, type RunReport } from './runner.ts';
export { HttpSink, type HttpSinkOptions } from './http-sink.ts';
export { IsoSink, type IsoSinkOptions } from './iso-sink.ts';
export { KafkaSink, type KafkaSinkOptions } from './kafka-sink.ts';
export type { Sink, SinkStats } from './sink.ts';
export type { SimEvent, SimHeartbeat, SimTransaction } from './events.ts';
export type { Incident, IncidentSpec, Label } from './incidents.ts';

/** Min-heap of events by report time. */
class EventHeap {
  private readonly items: SimEvent[] = [];

  get size(): number {
    return this.items.length;
  }

  push(ev: SimEvent): void {
    const a = this.items;
    a.push(ev);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (compareEvents(a[parent] as SimEvent, ev) <= 0) break;
      a[i] = a[parent] as SimEvent;
      i = parent;
    }
    a[i] = ev;
  }

  peek(): SimEvent | undefined {
    return this.items[0];
  }

  pop(): SimEvent | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length === 0 || last === undefined) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      let best = last;
      if (l < a.length && compareEvents(a[l] as SimEvent, best) < 0) {
        m = l;
        best = a[l] as SimEvent;
      }
      if (r < a.length && compareEvents(a[r] as SimEvent, best) < 0) m = r;
      if (m === i) break;
      a[i] = a[m] as SimEvent;
      i = m;
    }
    a[i] = last;
    return top;
  }
}

/** When the event happened at the terminal: request time of a transaction, event time of a heartbeat. */
export function originTime(ev: SimEvent): number {
  return ev.kind === 'transaction' ? ev.fields.request_time : ev.fields.event_time;
}

interface IncidentQueue {
  readonly incident: Incident;
  /** Position in schedule order: incidents apply in it. */
  readonly order: number;
  /** Its injected events by origin time, and how many were released. */
  readonly events: readonly SimEvent[];
  next: number;
}

export class Simulator {
  readonly fleet: Fleet;
  readonly traffic: TrafficGenerator;
  /** Approved operations an incident turned down, until a follow-up referring to them is dropped. */
  private readonly spoiled = new Set<string>();
  readonly start: number;
  readonly end: number;
  readonly seed: string;
  private readonly incidentList: Incident[] = [];
  private readonly byId = new Map<string, Incident>();
  /** The first event each incident added or changed (origin time), as generated. */
  private readonly firstEvidence = new Map<string, number>();
  /** Incidents not begun yet, by start; those begun and not yet over, in schedule order. */
  private readonly waiting: IncidentQueue[] = [];
  private running: IncidentQueue[] = [];
  private readonly pending = new EventHeap();
  private readonly cards: CardBook;
  private readonly taken = new Set<string>();
  private pans: Set<string> | undefined;
  private readonly idSalt: string;
  private readonly auto: AutoSchedule | undefined;
  private cursor: number;
  private finished = false;
  /** Called for every incident added after construction (auto schedule of an open-ended run, inject). */
  onIncident: ((incident: Incident) => void) | undefined;

  constructor(readonly options: SimulatorOptions) {
    if (!Number.isSafeInteger(options.start))
      throw new ValidationError('start must be epoch milliseconds', 'start');
    if (!(options.end > options.start)) throw new ValidationError('end must come after start', 'end');
    if (!(options.rate > 0) || !Number.isFinite(options.rate)) {
      throw new ValidationError(`rate must be a number above 0, got ${options.rate}`, 'rate');
    }
    const hb = options.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS;
    if (!Number.isInteger(hb) || hb < 5_000) {
      throw new ValidationError(
        `heartbeatIntervalMs must be at least 5000, got ${hb}`,
        'heartbeatIntervalMs',
      );
    }
    this.seed = options.seed;
    this.start = options.start;
    this.end = options.end;
    this.cursor = options.start;
    this.idSalt = options.idSalt ?? String(options.start);
    this.fleet = buildFleet({ ...options.fleet, seed: options.seed });
    this.traffic = new TrafficGenerator(
      this.fleet,
      {
        seed: options.seed,
        rate: options.rate,
        heartbeatIntervalMs: hb,
        idSalt: this.idSalt,
        mix: options.mix ?? DEFAULT_MIX,
      },
      options.start,
    );
    this.cards = new CardBook(this.fleet);
    const incidents = options.incidents ?? 'none';
    if (incidents === 'auto') {
      this.auto = new AutoSchedule(
        options.seed,
        { start: this.start, end: this.end },
        { ...DEFAULT_AUTO_SCHEDULE, ...options.autoSchedule },
      );
      // A bounded run knows all its incidents (and labels) up front.
      if (Number.isFinite(this.end)) this.pullAuto(Infinity, false);
    } else if (incidents !== 'none') {
      incidents.forEach((spec, i) => this.add(spec, `incidents[${i}]`));
    }
  }

  /** Simulated time up to which every event has been returned. */
  get position(): number {
    return this.cursor;
  }

  /** True once the end was reached and `drain` returned the rest. */
  get done(): boolean {
    return this.finished;
  }

  get incidents(): readonly Incident[] {
    return this.incidentList;
  }

  /** Labels of every incident known so far, in schedule order. */
  get labels(): Label[] {
    return this.incidentList.map((i) => this.labelOf(i));
  }

  /** Labels as of a stop at `until`: incidents not begun are left out, running ones end there. */
  labelsUntil(until: number): Label[] {
    return labelsUntil(this.incidentList, until).map((l) => this.withEvidence(l));
  }

  private labelOf(i: Incident): Label {
    return this.withEvidence(i.label);
  }

  /**
   * first_evidence as the events went out: the first event the incident added or changed (from its
   * evidenceFrom on), which for a change to the fleet's own traffic is only known once generated.
   */
  private withEvidence(label: Label): Label {
    const seen = this.firstEvidence.get(label.incident_id);
    return seen === undefined ? label : { ...label, first_evidence: new Date(seen).toISOString() };
  }

  private noteEvidence(ev: SimEvent): void {
    if (ev.incidents.length === 0) return;
    const t = originTime(ev);
    for (const id of ev.incidents) {
      const incident = this.byId.get(id);
      if (incident === undefined || t < incident.evidenceFrom) continue;
      const known = this.firstEvidence.get(id);
      if (known === undefined || t < known) this.firstEvidence.set(id, t);
    }
  }

  /** Incidents active at `time`. */
  activeAt(time: number): Incident[] {
    return this.incidentList.filter((i) => i.start <= time && time < i.end);
  }

  /**
   * Adds one incident (on demand). Without `start` it begins at the current position; it must not
   * start before it (events up to there are already out) nor after the end.
   */
  inject(
    spec: Omit<IncidentSpec, 'start' | 'end'> & { start?: number; end?: number; durationMs?: number },
  ): Incident {
    const start = spec.start ?? this.cursor;
    if (start < this.cursor) {
      throw new ValidationError(
        `an incident injected now cannot start before ${new Date(this.cursor).toISOString()}`,
        'start',
      );
    }
    if (start >= this.end) throw new ValidationError('the incident would start after the run ends', 'start');
    const end = Math.min(this.end, spec.end ?? start + (spec.durationMs ?? 10 * 60_000));
    const { durationMs: _unused, ...rest } = spec;
    const incident = this.add({ ...rest, start, end }, 'inject');
    this.onIncident?.(incident);
    return incident;
  }

  private add(spec: IncidentSpec, where: string): Incident {
    const id = spec.id;
    if (id !== undefined && this.incidentList.some((i) => i.id === id)) {
      throw new ValidationError(`${where}.id: ${id} is used twice`, `${where}.id`);
    }
    const incident = resolveIncident(
      spec,
      this.incidentList.length,
      {
        fleet: this.fleet,
        seed: this.seed,
        idSalt: this.idSalt,
        tokenKeys: this.options.tokenKeys,
        cards: this.cards,
        taken: this.taken,
        knownPans: () => (this.pans ??= new Set(this.fleet.cards.map((c) => c.pan))),
      },
      where,
    );
    const order = this.incidentList.length;
    this.incidentList.push(incident);
    this.byId.set(incident.id, incident);
    const events = [...incident.injected].sort(
      (a, b) => originTime(a) - originTime(b) || compareEvents(a, b),
    );
    const queue = { incident, order, events, next: 0 };
    const at = this.waiting.findIndex((q) => q.incident.start > incident.start);
    this.waiting.splice(at < 0 ? this.waiting.length : at, 0, queue);
    return incident;
  }

  /** Places auto-scheduled incidents that start before `horizon`. */
  private pullAuto(horizon: number, notify: boolean): void {
    const auto = this.auto;
    if (auto === undefined) return;
    while (auto.nextStart < horizon) {
      const slot = auto.nextSlot();
      if (slot === undefined) return;
      let placed: IncidentKind | undefined;
      for (const kind of auto.candidates()) {
        try {
          const incident = this.add({ kind, start: slot.start, end: slot.end }, `auto ${kind}`);
          placed = kind;
          if (notify) this.onIncident?.(incident);
          break;
        } catch (err) {
          // Not every kind fits every slot (off-hours needs a closed merchant, travel two regions).
          if (!(err instanceof IncidentPlacementError)) throw err;
        }
      }
      if (placed !== undefined) auto.used(placed);
    }
  }

  private applyIncidents(ev: SimEvent): SimEvent[] {
    let events: SimEvent[] = [ev];
    const t = originTime(ev);
    for (const { incident } of this.running) {
      if (t < incident.start || t >= incident.end) continue;
      const next: SimEvent[] = [];
      for (const e of events) {
        if (e.kind === 'transaction') {
          const out = incident.transformTransaction(e);
          if (out === undefined) next.push(e);
          else next.push(...out);
        } else {
          const out = incident.transformHeartbeat(e);
          if (out === undefined) next.push(e);
          else if (out !== null) next.push(out);
        }
      }
      events = next;
    }
    return events;
  }

  /**
   * One tick: the events reported in [position, position + 1 s), in report-time order; advances the
   * position. Returns [] once the end is reached (then call `drain`).
   */
  step(): SimEvent[] {
    if (this.cursor >= this.end) return [];
    const from = this.cursor;
    const tickEnd = from + TICK_MS;
    if (this.auto !== undefined && !Number.isFinite(this.end)) this.pullAuto(tickEnd + 60_000, true);
    // Only the incidents overlapping this tick are looked at: a long run may schedule thousands.
    let begun = false;
    while (this.waiting.length > 0 && (this.waiting[0] as IncidentQueue).incident.start < tickEnd) {
      this.running.push(this.waiting.shift() as IncidentQueue);
      begun = true;
    }
    if (begun) this.running.sort((a, b) => a.order - b.order);
    this.running = this.running.filter((q) => q.incident.end > from || q.next < q.events.length);
    for (const ev of this.traffic.nextTick()) {
      if (originTime(ev) >= this.end) continue;
      // A follow-up of an operation an incident turned down (timed out, declined, never sent)
      // would refund or void money never taken: it is left out.
      if (ev.kind === 'transaction' && ev.followsUp !== undefined && this.spoiled.delete(ev.followsUp))
        continue;
      const outs = this.applyIncidents(ev);
      if (ev.kind === 'transaction' && ev.fields.status === 'APPROVED' && !keptApproved(ev, outs))
        this.spoiled.add(operationKey(ev.fields));
      for (const out of outs) {
        this.noteEvidence(out);
        this.pending.push(out);
      }
    }
    for (const q of this.running) {
      while (q.next < q.events.length && originTime(q.events[q.next] as SimEvent) < tickEnd) {
        const ev = q.events[q.next++] as SimEvent;
        this.noteEvidence(ev);
        this.pending.push(ev);
      }
    }
    this.cursor = Math.min(tickEnd, this.end);
    const out: SimEvent[] = [];
    while (this.pending.size > 0 && (this.pending.peek() as SimEvent).time < this.cursor) {
      out.push(this.pending.pop() as SimEvent);
    }
    return out;
  }

  /** Every event still held (reported after the position: answers of requests made before it). */
  drain(): SimEvent[] {
    const out: SimEvent[] = [];
    while (this.pending.size > 0) out.push(this.pending.pop() as SimEvent);
    this.finished = true;
    return out;
  }

  /** Steps until `until` (at most the end); the events reported before it. */
  advanceTo(until: number): SimEvent[] {
    const out: SimEvent[] = [];
    while (this.cursor < Math.min(until, this.end)) for (const ev of this.step()) out.push(ev);
    return out;
  }

  /** Every event of a bounded run, in report-time order. */
  *events(): Generator<SimEvent> {
    if (!Number.isFinite(this.end)) throw new ValidationError('events() needs a run with an end', 'end');
    while (this.cursor < this.end) yield* this.step();
    yield* this.drain();
  }
}

/** Whether an approved transaction is still sent approved after the incidents changed it. */
function keptApproved(ev: SimTransaction, outs: readonly SimEvent[]): boolean {
  return outs.some(
    (o) =>
      o.kind === 'transaction' && o.fields.event_id === ev.fields.event_id && o.fields.status === 'APPROVED',
  );
}

/** The transactions of `events` (a type guard for filters). */
export function isTransaction(ev: SimEvent): ev is SimTransaction {
  return ev.kind === 'transaction';
}
