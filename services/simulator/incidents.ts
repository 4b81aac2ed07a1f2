import type { EntryMode, PaymentMethod, TransactionType } from '../shared/avro/types.generated.ts';
import { ValidationError } from '../shared/errors.ts';
import { cardReference, type TokenKeys } from '../gateway/card-data.ts';
import { CARD_PRODUCTS, distanceKm, type CardProduct } from './catalog.ts';
import {
  TERMINAL_TIMEOUT_MS,
  compareEvents,
  simTransaction,
  type SimEvent,
  type SimHeartbeat,
  type SimTransaction,
  type TransactionFields,
} from './events.ts';
import { makePan, terminalOpenAt, type Card, type Fleet, type Region, type Terminal } from './fleet.ts';
import { Rng, WeightedTable } from './rng.ts';
import {
  BASELINE_STAN_LIMIT,
  type CardBook,
  assembleTransaction,
  authCode,
  retrievalReference,
  sampleAmount,
  sampleLatency,
  type Outcome,
} from './traffic.ts';

/**
 * The ten incident kinds. Each is resolved once, when it is scheduled, into concrete entities
 * (terminals, a region, an acquirer, cards) and a label naming what a detector is expected to flag;
 * while active it changes normal events of its entities (`transformTransaction`,
 * `transformHeartbeat`, called only for events whose request/event time lies in [start, end)) and
 * adds its own (`injected`, planned at resolution, all within [start, end)). Its randomness comes
 * from its own stream, so normal traffic outside the window is exactly what it would have been.
 */

export const INCIDENT_KINDS = [
  'terminal_outage',
  'regional_network_degradation',
  'acquirer_host_slowdown',
  'card_testing',
  'velocity_fraud_ring',
  'refund_abuse',
  'duplicate_submissions',
  'impossible_travel',
  'magstripe_fallback_spike',
  'off_hours_activity',
] as const;

export type IncidentKind = (typeof INCIDENT_KINDS)[number];

export function isIncidentKind(v: unknown): v is IncidentKind {
  return typeof v === 'string' && (INCIDENT_KINDS as readonly string[]).includes(v);
}

export type EntityLevel = 'TERMINAL' | 'MERCHANT' | 'REGION' | 'ACQUIRER' | 'CARD';

/** Which entities an incident is about; any left out are chosen from the seed. */
export interface IncidentTargets {
  terminal?: string;
  terminals?: readonly string[];
  merchant?: string;
  region?: string;
  acquirer?: string;
}

export interface IncidentSpec {
  /** Default: a sequence number and the kind, e.g. `inc-003-card_testing`. */
  id?: string;
  kind: IncidentKind;
  /** Window in simulated time (ms), end exclusive. */
  start: number;
  end: number;
  targets?: IncidentTargets;
  params?: Readonly<Record<string, number>>;
}

/** A card as labels name it: the gateway's token (never the PAN), BIN and last four. */
export interface CardLabel {
  token: string;
  token_key_id: string;
  bin: string;
  last4: string;
}

/** One line of the label file. */
export interface Label {
  incident_id: string;
  kind: IncidentKind;
  entity_level: EntityLevel;
  /** Terminal serials, a region or acquirer id, or card tokens: what a detector should flag. */
  entity_ids: string[];
  /** RFC 3339, UTC. */
  start: string;
  end: string;
  /**
   * The earliest moment the incident shows in the events (RFC 3339): its first injected event (for
   * impossible travel the second visit, as one visit alone is normal), or `start` when it changes
   * the fleet's own traffic (outages, slow hosts, duplicated or fallback sales).
   */
  first_evidence: string;
  params: Record<string, unknown>;
}

export interface Incident {
  readonly id: string;
  readonly kind: IncidentKind;
  readonly start: number;
  readonly end: number;
  readonly label: Label;
  /** Its events before this show nothing yet (impossible travel's first visit); else its start. */
  readonly evidenceFrom: number;
  /** Events the incident adds, in report-time order. */
  readonly injected: readonly SimEvent[];
  /** A changed event (or events, or none: dropped); undefined when the event is not the incident's. */
  transformTransaction(ev: SimTransaction): SimTransaction[] | undefined;
  /** A changed heartbeat, null when dropped, undefined when not the incident's. */
  transformHeartbeat(ev: SimHeartbeat): SimHeartbeat | null | undefined;
}

export interface ParamSpec {
  readonly default: number;
  readonly min: number;
  readonly max: number;
  readonly integer: boolean;
  readonly doc: string;
}

const p = (def: number, min: number, max: number, doc: string, integer = false): ParamSpec =>
  Object.freeze({ default: def, min, max, integer, doc });

export interface KindInfo {
  readonly doc: string;
  readonly entityLevel: EntityLevel;
  readonly defaultDurationMs: number;
  readonly params: Readonly<Record<string, ParamSpec>>;
}

export const KINDS: Readonly<Record<IncidentKind, KindInfo>> = {
  terminal_outage: {
    doc: 'The terminals stop sending transactions and heartbeats.',
    entityLevel: 'TERMINAL',
    defaultDurationMs: 15 * 60_000,
    params: { terminals: p(1, 1, 100, 'terminals that go dark (when none are named)', true) },
  },
  regional_network_degradation: {
    doc: 'In one region: attempts time out, answers are slow, some terminals stop heartbeating and the others report a weak, flapping link.',
    entityLevel: 'REGION',
    defaultDurationMs: 20 * 60_000,
    params: {
      timeout_share: p(0.3, 0, 1, 'share of the region’s attempts that time out'),
      latency_factor: p(4, 1, 100, 'host response times of the others are multiplied by this'),
      heartbeat_drop_share: p(0.4, 0, 1, 'share of the region’s terminals whose heartbeats stop'),
    },
  },
  acquirer_host_slowdown: {
    doc: 'One acquirer’s host answers slowly; answers later than the terminal waits become timeouts.',
    entityLevel: 'ACQUIRER',
    defaultDurationMs: 20 * 60_000,
    params: {
      latency_factor: p(6, 1, 100, 'host response times are multiplied by this'),
      timeout_share: p(0.02, 0, 1, 'share of attempts that get no answer at all'),
    },
  },
  card_testing: {
    doc: 'Bursts of small attempts with many card numbers of one BIN on one terminal, mostly declined (05, 14, 51, 54).',
    entityLevel: 'TERMINAL',
    defaultDurationMs: 15 * 60_000,
    params: {
      cards: p(40, 2, 1_000, 'distinct card numbers tried', true),
      attempts_per_minute: p(60, 1, 600, 'pace within a burst (a script: one a second)'),
      burst_attempts: p(25, 1, 1_000, 'attempts per burst', true),
      pause_minutes: p(2, 0, 60, 'mean pause between bursts'),
      max_amount_minor: p(500, 1, 100_000, 'largest amount tried (minor units)', true),
      decline_share: p(0.85, 0, 1, 'share of attempts declined'),
    },
  },
  velocity_fraud_ring: {
    doc: 'A few stolen cards used at many terminals of different merchants in one region within minutes.',
    entityLevel: 'CARD',
    defaultDurationMs: 20 * 60_000,
    params: {
      cards: p(3, 1, 50, 'cards the ring uses', true),
      terminals: p(8, 2, 200, 'terminals of the ring (at distinct merchants where possible)', true),
      attempts_per_card_per_minute: p(1, 0.1, 30, 'how often each card is used'),
    },
  },
  refund_abuse: {
    doc: 'Several approved refunds to one card at one merchant that never sold it anything.',
    entityLevel: 'CARD',
    defaultDurationMs: 30 * 60_000,
    params: { refunds: p(6, 1, 500, 'refunds in the window', true) },
  },
  duplicate_submissions: {
    doc: 'One terminal submits approved sales twice within seconds: same card, amount and terminal, new event id.',
    entityLevel: 'TERMINAL',
    defaultDurationMs: 15 * 60_000,
    params: {
      duplicate_share: p(0.5, 0, 1, 'share of the terminal’s approved card sales sent twice'),
      extra_sales_per_minute: p(
        1,
        0,
        60,
        'added sales (each sent twice), so the terminal shows it even when quiet',
      ),
      max_delay_ms: p(8_000, 100, 60_000, 'latest the copy follows the original', true),
    },
  },
  impossible_travel: {
    doc: 'One card present at two merchants hundreds of kilometres apart within minutes, back and forth.',
    entityLevel: 'CARD',
    defaultDurationMs: 30 * 60_000,
    params: { hops: p(3, 2, 20, 'attempts, alternating between the two places', true) },
  },
  magstripe_fallback_spike: {
    doc: 'One terminal’s card attempts switch to magstripe fallback and swipe, with extra skimmed-card attempts.',
    entityLevel: 'TERMINAL',
    defaultDurationMs: 20 * 60_000,
    params: {
      share: p(0.7, 0, 1, 'share of the terminal’s card attempts read by FALLBACK or SWIPE'),
      extra_attempts_per_minute: p(3, 0, 600, 'added FALLBACK/SWIPE attempts'),
      decline_share: p(0.3, 0, 1, 'share of the added attempts declined'),
    },
  },
  off_hours_activity: {
    doc: 'Sales on a terminal while its merchant is closed.',
    entityLevel: 'TERMINAL',
    defaultDurationMs: 30 * 60_000,
    params: { attempts_per_minute: p(0.5, 0.01, 60, 'pace of the sales') },
  },
};

/**
 * The incident cannot be placed in its window with this fleet: no merchant closed for off-hours
 * activity, a single region for impossible travel, a window too short. The automatic schedule
 * tries another kind; a schedule file reports it.
 */
export class IncidentPlacementError extends ValidationError {}

/** Planned events one incident may add, so a bad rate cannot exhaust memory. */
const MAX_INJECTED = 500_000;

export interface ResolveContext {
  readonly fleet: Fleet;
  readonly seed: string;
  readonly idSalt: string;
  /** The gateway's key ring; needed by the kinds whose labels name cards. */
  readonly tokenKeys: TokenKeys | undefined;
  readonly cards: CardBook;
  /** Terminal serials and card indexes other incidents use: a new incident picks others when it can. */
  readonly taken: Set<string>;
  /** Every card number in use (the fleet's and incidents' fresh ones), built once on first use. */
  readonly knownPans: () => Set<string>;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** Checks a spec's params against its kind; `where` prefixes error paths (`incidents[2]`). */
export function resolveParams(
  kind: IncidentKind,
  given: Readonly<Record<string, unknown>> | undefined,
  where: string,
): Record<string, number> {
  const specs = KINDS[kind].params;
  const out: Record<string, number> = {};
  for (const key of Object.keys(given ?? {})) {
    if (!(key in specs)) {
      throw new ValidationError(
        `${where}.params.${key}: not a parameter of ${kind} (known: ${Object.keys(specs).join(', ')})`,
        `${where}.params.${key}`,
      );
    }
  }
  for (const [key, spec] of Object.entries(specs)) {
    const v = given?.[key];
    if (v === undefined) {
      out[key] = spec.default;
      continue;
    }
    if (
      typeof v !== 'number' ||
      !Number.isFinite(v) ||
      v < spec.min ||
      v > spec.max ||
      (spec.integer && !Number.isInteger(v))
    ) {
      throw new ValidationError(
        `${where}.params.${key}: expected ${spec.integer ? 'an integer' : 'a number'} between ${spec.min} and ${spec.max}, got ${JSON.stringify(v)}`,
        `${where}.params.${key}`,
      );
    }
    out[key] = v;
  }
  return out;
}

/** Samples every 5 minutes and the last millisecond: opening hours change on the hour. */
function eachCheckpoint(start: number, end: number): number[] {
  const out: number[] = [];
  for (let t = start; t < end; t += 5 * 60_000) out.push(t);
  out.push(end - 1);
  return out;
}

export function openThroughout(t: Terminal, start: number, end: number): boolean {
  return eachCheckpoint(start, end).every((x) => terminalOpenAt(t, x));
}

export function closedThroughout(t: Terminal, start: number, end: number): boolean {
  return eachCheckpoint(start, end).every((x) => !terminalOpenAt(t, x));
}

/** Builds an incident's own events: its own ids, STAN block and RRNs, tagged with its id. */
class Maker {
  private stanSeq = 0;
  private rrnSeq = 0;
  private readonly stanBase: number;

  constructor(
    readonly id: string,
    readonly rng: Rng,
    private readonly ids: Rng,
    index: number,
  ) {
    // STANs above the baseline's, a block per incident, so ISO 8583 pairing never confuses them.
    this.stanBase = BASELINE_STAN_LIMIT + 1 + (index % 10) * 9_999;
  }

  eventId(): string {
    return this.ids.uuid();
  }

  stan(): string {
    return String(this.stanBase + (this.stanSeq++ % 9_999)).padStart(6, '0');
  }

  tx(
    terminal: Terminal,
    time: number,
    o: {
      type?: TransactionType;
      paymentMethod: PaymentMethod;
      entryMode: EntryMode;
      pan: string | null;
      amount: number;
      outcome: Outcome;
      latencyFactor?: number;
    },
  ): SimTransaction {
    const latency = sampleLatency(terminal.merchant.acquirer, this.rng) * (o.latencyFactor ?? 1);
    return simTransaction(
      assembleTransaction({
        eventId: this.eventId(),
        terminal,
        requestTime: Math.floor(time),
        type: o.type ?? 'SALE',
        paymentMethod: o.paymentMethod,
        entryMode: o.entryMode,
        pan: o.pan,
        amount: o.amount,
        outcome: o.outcome,
        latencyMs: latency,
        stan: this.stan(),
        rrn: retrievalReference(time, 900_000 + (this.rrnSeq++ % 99_999)),
        authCode: authCode(this.rng),
        cashier: null,
        basket: null,
      }),
      [this.id],
    );
  }
}

function tag<T extends SimEvent>(ev: T, id: string): readonly string[] {
  return ev.incidents.includes(id) ? ev.incidents : [...ev.incidents, id];
}

/** The transaction with a host response time `factor` times longer; a TIMEOUT if the terminal would give up. */
function slowed(ev: SimTransaction, factor: number, id: string): SimTransaction {
  const f = ev.fields;
  if (f.response_time === null) return simTransaction(f, tag(ev, id));
  const latency = Math.round((f.response_time - f.request_time) * factor);
  if (latency >= TERMINAL_TIMEOUT_MS) return timedOut(ev, id);
  return simTransaction({ ...f, response_time: f.request_time + latency }, tag(ev, id));
}

function timedOut(ev: SimTransaction, id: string): SimTransaction {
  return simTransaction(
    {
      ...ev.fields,
      status: 'TIMEOUT',
      response_code: null,
      response_message: null,
      auth_code: null,
      response_time: null,
      rrn: null,
    },
    tag(ev, id),
  );
}

/** Times of a Poisson process of `perMinute` over [start, end). */
function poissonTimes(rng: Rng, start: number, end: number, perMinute: number): number[] {
  const out: number[] = [];
  if (perMinute <= 0) return out;
  const mean = 60_000 / perMinute;
  for (let t = start + rng.exponential(mean); t < end; t += rng.exponential(mean)) {
    out.push(Math.floor(t));
    if (out.length > MAX_INJECTED) break;
  }
  return out;
}

const WEAK_ENTRY: readonly EntryMode[] = ['FALLBACK', 'SWIPE', 'MANUAL'];

/** Resolves one spec against the fleet. `index` numbers incidents in schedule order. */
export function resolveIncident(
  spec: IncidentSpec,
  index: number,
  ctx: ResolveContext,
  where: string,
): Incident {
  const kind = spec.kind;
  if (!isIncidentKind(kind)) {
    throw new ValidationError(
      `${where}.kind: unknown kind ${JSON.stringify(kind)} (expected one of ${INCIDENT_KINDS.join(', ')})`,
      `${where}.kind`,
    );
  }
  if (!(spec.end > spec.start)) {
    throw new ValidationError(`${where}: the end must come after the start`, `${where}.end`);
  }
  const params = resolveParams(kind, spec.params, where);
  const id = spec.id ?? `inc-${String(index + 1).padStart(3, '0')}-${kind}`;
  const rng = Rng.from(ctx.seed, 'incident', index, kind, spec.start);
  const maker = new Maker(
    id,
    rng.fork('events'),
    Rng.from(ctx.seed, 'ids', ctx.idSalt, 'incident', index),
    index,
  );
  const r = new Resolver(spec, params, id, rng, maker, ctx, where);
  const incident = r.resolve();
  if (incident.injected.length > MAX_INJECTED) {
    throw new ValidationError(
      `${where}: plans ${incident.injected.length} events, more than ${MAX_INJECTED}; lower the rate or shorten the window`,
      `${where}.params`,
    );
  }
  return incident;
}

/** When an event happened: a transaction's request, a heartbeat's event time. */
function eventTime(e: SimEvent): number {
  return e.kind === 'transaction' ? e.fields.request_time : e.fields.event_time;
}

interface Parts {
  level?: EntityLevel;
  entityIds: string[];
  labelParams: Record<string, unknown>;
  injected?: SimEvent[];
  /** Before this its events show nothing yet (when not from the start). */
  firstEvidence?: number;
  transformTransaction?: (ev: SimTransaction) => SimTransaction[] | undefined;
  transformHeartbeat?: (ev: SimHeartbeat) => SimHeartbeat | null | undefined;
}

class Resolver {
  private readonly fleet: Fleet;

  constructor(
    private readonly spec: IncidentSpec,
    private readonly params: Record<string, number>,
    private readonly id: string,
    private readonly rng: Rng,
    private readonly maker: Maker,
    private readonly ctx: ResolveContext,
    private readonly where: string,
  ) {
    this.fleet = ctx.fleet;
  }

  resolve(): Incident {
    const parts = this.build();
    const { spec, id } = this;
    const kind = spec.kind;
    const injected = (parts.injected ?? []).filter((e) => {
      const t = eventTime(e);
      return t >= spec.start && t < spec.end;
    });
    injected.sort(compareEvents);
    const first = injected[0];
    const firstEvidence =
      parts.transformTransaction !== undefined ||
      parts.transformHeartbeat !== undefined ||
      first === undefined
        ? spec.start
        : (parts.firstEvidence ?? eventTime(first));
    const label: Label = {
      incident_id: id,
      kind,
      entity_level: parts.level ?? KINDS[kind].entityLevel,
      entity_ids: parts.entityIds,
      start: iso(spec.start),
      end: iso(spec.end),
      first_evidence: iso(firstEvidence),
      params: { ...this.params, ...parts.labelParams },
    };
    return {
      id,
      kind,
      start: spec.start,
      end: spec.end,
      label,
      evidenceFrom: parts.firstEvidence ?? spec.start,
      injected,
      transformTransaction: parts.transformTransaction ?? (() => undefined),
      transformHeartbeat: parts.transformHeartbeat ?? (() => undefined),
    };
  }

  private fail(message: string, path = ''): never {
    throw new ValidationError(`${this.where}${path}: ${message}`, `${this.where}${path}`);
  }

  private cannotPlace(message: string, path = ''): never {
    throw new IncidentPlacementError(`${this.where}${path}: ${message}`, `${this.where}${path}`);
  }

  private cardLabel(pan: string): CardLabel {
    const keys = this.ctx.tokenKeys;
    if (keys === undefined) {
      this.fail(
        `${this.spec.kind} names card tokens in its label, so the gateway's token key is needed (SIMULATOR_TOKEN_KEYS or GATEWAY_TOKEN_KEYS)`,
      );
    }
    const ref = cardReference(pan, keys);
    return {
      token: ref.card_token,
      token_key_id: ref.card_token_key_id,
      bin: ref.card_bin,
      last4: ref.card_last4,
    };
  }

  /** A card number of `product` no fleet card has, so no normal sale can explain what it does. */
  private freshPan(product: CardProduct): string {
    const known = this.ctx.knownPans();
    for (;;) {
      const pan = makePan(product, this.rng);
      if (!known.has(pan)) {
        known.add(pan);
        return pan;
      }
    }
  }

  private terminal(serial: string, path: string): Terminal {
    const t = this.fleet.terminalBySerial.get(serial);
    if (t === undefined) this.fail(`no terminal ${JSON.stringify(serial)} in the fleet`, path);
    return t;
  }

  /** The terminals the spec names (terminal, terminals, or all of a merchant's), or undefined. */
  private namedTerminals(): Terminal[] | undefined {
    const t = this.spec.targets;
    if (t?.terminal !== undefined) return [this.terminal(t.terminal, '.targets.terminal')];
    if (t?.terminals !== undefined) {
      if (t.terminals.length === 0) this.fail('an empty list', '.targets.terminals');
      return t.terminals.map((s, i) => this.terminal(s, `.targets.terminals[${i}]`));
    }
    if (t?.merchant !== undefined) {
      const m = this.fleet.merchantById.get(t.merchant);
      if (m === undefined)
        this.fail(`no merchant ${JSON.stringify(t.merchant)} in the fleet`, '.targets.merchant');
      return [...m.terminals];
    }
    return undefined;
  }

  private region(): Region | undefined {
    const id = this.spec.targets?.region;
    if (id === undefined) return undefined;
    const region = this.fleet.regionById.get(id);
    if (region === undefined) {
      this.fail(
        `no region ${JSON.stringify(id)} in the fleet (it has ${this.fleet.regions.map((r) => r.id).join(', ')})`,
        '.targets.region',
      );
    }
    return region;
  }

  /**
   * `n` terminals: the named ones, else picked by activity among those `want` accepts that no
   * other incident uses (then any that `want` accepts). `required` makes `want` a must.
   */
  private terminals(
    n: number,
    want: (t: Terminal) => boolean,
    required: string | undefined,
    pool?: readonly Terminal[],
  ): Terminal[] {
    const named = this.namedTerminals();
    if (named !== undefined) {
      if (required !== undefined) {
        const bad = named.find((t) => !want(t));
        if (bad !== undefined) this.fail(`terminal ${bad.serial} ${required}`, '.targets');
      }
      return named;
    }
    const source = pool ?? this.fleet.terminals;
    const free = source.filter((t) => !this.ctx.taken.has(t.serial));
    let candidates = free.filter(want);
    if (candidates.length === 0) candidates = source.filter(want);
    if (candidates.length === 0) {
      if (required !== undefined)
        this.cannotPlace(
          `no terminal of the fleet is available: each one ${required.replace(/^needs/, 'would need')}`,
        );
      candidates = free.length > 0 ? free : [...source];
    }
    const chosen: Terminal[] = [];
    const left = [...candidates];
    while (chosen.length < n && left.length > 0) {
      const table = new WeightedTable(left.map((t, i) => [i, t.activity] as const));
      const [t] = left.splice(table.pick(this.rng), 1);
      chosen.push(t as Terminal);
    }
    for (const t of chosen) this.ctx.taken.add(t.serial);
    return chosen;
  }

  private populationCard(region: Region | null, accept: (c: Card) => boolean = () => true): Card {
    for (let i = 0; i < 200; i++) {
      const card = this.ctx.cards.pick(region, null, this.rng);
      if (!this.ctx.taken.has(`card:${card.index}`) && accept(card)) {
        this.ctx.taken.add(`card:${card.index}`);
        return card;
      }
    }
    const card = this.fleet.cards.find((c) => !this.ctx.taken.has(`card:${c.index}`) && accept(c));
    if (card === undefined) this.cannotPlace('the fleet has no card left for this incident; raise --cards');
    this.ctx.taken.add(`card:${card.index}`);
    return card;
  }

  private build(): Parts {
    switch (this.spec.kind) {
      case 'terminal_outage':
        return this.outage();
      case 'regional_network_degradation':
        return this.regionalDegradation();
      case 'acquirer_host_slowdown':
        return this.acquirerSlowdown();
      case 'card_testing':
        return this.cardTesting();
      case 'velocity_fraud_ring':
        return this.velocityRing();
      case 'refund_abuse':
        return this.refundAbuse();
      case 'duplicate_submissions':
        return this.duplicates();
      case 'impossible_travel':
        return this.impossibleTravel();
      case 'magstripe_fallback_spike':
        return this.fallbackSpike();
      case 'off_hours_activity':
        return this.offHours();
    }
  }

  private get open(): (t: Terminal) => boolean {
    return (t) => openThroughout(t, this.spec.start, this.spec.end);
  }

  private outage(): Parts {
    const dark = this.terminals(this.params['terminals'] as number, this.open, undefined);
    const serials = new Set(dark.map((t) => t.serial));
    return {
      entityIds: dark.map((t) => t.serial),
      labelParams: { merchants: [...new Set(dark.map((t) => t.merchant.id))] },
      transformTransaction: (ev) => (serials.has(ev.fields.terminal_serial) ? [] : undefined),
      transformHeartbeat: (ev) => (serials.has(ev.fields.terminal_serial) ? null : undefined),
    };
  }

  private regionalDegradation(): Parts {
    const named = this.region();
    const counts = new WeightedTable(
      this.fleet.regions.map(
        (r) => [r, this.fleet.terminals.filter((t) => t.merchant.region === r).length] as const,
      ),
    );
    const region = named ?? counts.pick(this.rng);
    const inRegion = this.fleet.terminals.filter((t) => t.merchant.region === region);
    const dropCount = Math.round(inRegion.length * (this.params['heartbeat_drop_share'] as number));
    const dropping = new Set(
      this.rng
        .shuffle([...inRegion])
        .slice(0, dropCount)
        .map((t) => t.serial),
    );
    const timeoutShare = this.params['timeout_share'] as number;
    const factor = this.params['latency_factor'] as number;
    const effects = this.rng.fork('effects');
    return {
      entityIds: [region.id],
      labelParams: { terminals: inRegion.length, terminals_dropping_heartbeats: [...dropping].sort() },
      transformTransaction: (ev) => {
        if (ev.fields.region !== region.id) return undefined;
        return [effects.chance(timeoutShare) ? timedOut(ev, this.id) : slowed(ev, factor, this.id)];
      },
      transformHeartbeat: (ev) => {
        const t = this.fleet.terminalBySerial.get(ev.fields.terminal_serial);
        if (t === undefined || t.merchant.region !== region) return undefined;
        if (dropping.has(t.serial)) return null;
        const online = !effects.chance(timeoutShare);
        const f = ev.fields;
        return {
          ...ev,
          fields: {
            ...f,
            online,
            signal_strength_dbm:
              f.signal_strength_dbm === null ? null : Math.max(-120, f.signal_strength_dbm - 15),
            offline_queue_length: online
              ? f.offline_queue_length
              : f.offline_queue_length + effects.int(1, 8),
            last_error_code: 'NET-TIMEOUT',
          },
          incidents: tag(ev, this.id),
        };
      },
    };
  }

  private acquirerSlowdown(): Parts {
    const id = this.spec.targets?.acquirer;
    let acquirer = id === undefined ? undefined : this.fleet.acquirerById.get(id);
    if (id !== undefined && acquirer === undefined) {
      this.fail(
        `no acquirer ${JSON.stringify(id)} in the fleet (it has ${this.fleet.acquirers.map((a) => a.id).join(', ')})`,
        '.targets.acquirer',
      );
    }
    acquirer ??= new WeightedTable(
      this.fleet.acquirers.map(
        (a) => [a, 1 + this.fleet.terminals.filter((t) => t.merchant.acquirer === a).length] as const,
      ),
    ).pick(this.rng);
    const target = acquirer;
    const factor = this.params['latency_factor'] as number;
    const timeoutShare = this.params['timeout_share'] as number;
    const effects = this.rng.fork('effects');
    return {
      entityIds: [target.id],
      labelParams: {},
      transformTransaction: (ev) => {
        if (ev.fields.acquirer_id !== target.id) return undefined;
        return [effects.chance(timeoutShare) ? timedOut(ev, this.id) : slowed(ev, factor, this.id)];
      },
    };
  }

  private cardTesting(): Parts {
    const [terminal] = this.terminals(1, this.open, undefined) as [Terminal];
    const product = this.rng.pick(CARD_PRODUCTS.filter((c) => c.type === 'CREDIT'));
    const pans = Array.from({ length: this.params['cards'] as number }, () => this.freshPan(product));
    const perMinute = this.params['attempts_per_minute'] as number;
    const burst = this.params['burst_attempts'] as number;
    const pause = (this.params['pause_minutes'] as number) * 60_000;
    const maxAmount = this.params['max_amount_minor'] as number;
    const declineShare = this.params['decline_share'] as number;
    const codes = new WeightedTable<string>([
      ['05', 40],
      ['14', 25],
      ['51', 20],
      ['54', 15],
    ]);
    const entries = new WeightedTable<EntryMode>([
      ['MANUAL', 60],
      ['SWIPE', 25],
      ['CONTACTLESS', 15],
    ]);
    const rng = this.maker.rng;
    const injected: SimEvent[] = [];
    const used: string[] = [];
    let next = 0;
    let t = this.spec.start + rng.float(0, Math.min(10_000, (this.spec.end - this.spec.start) / 10));
    while (t < this.spec.end && injected.length <= MAX_INJECTED) {
      for (let k = 0; k < burst && t < this.spec.end; k++) {
        // Testers mostly move on to the next number, sometimes retry one with another amount.
        const pan =
          used.length > 0 && rng.chance(0.25) ? rng.pick(used) : (pans[next++ % pans.length] as string);
        used.push(pan);
        injected.push(
          this.maker.tx(terminal, t, {
            paymentMethod: product.type,
            entryMode: entries.pick(rng),
            pan,
            amount: rng.int(Math.min(100, maxAmount), maxAmount),
            outcome: rng.chance(declineShare)
              ? { status: 'DECLINED', code: codes.pick(rng) }
              : { status: 'APPROVED' },
          }),
        );
        t += Math.max(500, rng.exponential(60_000 / perMinute));
      }
      t += rng.exponential(pause);
    }
    if (injected.length === 0) this.cannotPlace('the window is too short for a single attempt', '.end');
    const triedPans = [...new Set(used)];
    return {
      entityIds: [terminal.serial],
      labelParams: {
        merchant_id: terminal.merchant.id,
        bin: triedPans.length > 0 ? this.cardLabel(triedPans[0] as string).bin : product.prefix,
        attempts: injected.length,
        cards: triedPans.map((pan) => this.cardLabel(pan)),
      },
      injected,
    };
  }

  private velocityRing(): Parts {
    const named = this.region();
    const open = this.open;
    const merchantsOpen = (r: Region) =>
      new Set(
        this.fleet.terminals.filter((t) => t.merchant.region === r && open(t)).map((t) => t.merchant.id),
      ).size;
    const region =
      named ??
      [...this.fleet.regions].sort((a, b) => merchantsOpen(b) - merchantsOpen(a) || a.index - b.index)[0] ??
      this.cannotPlace('the fleet has no region');
    const pool = this.rng.shuffle(
      this.fleet.terminals.filter((t) => t.merchant.region === region && open(t)),
    );
    const wanted = this.params['terminals'] as number;
    // One terminal per merchant first, so the ring spans as many merchants as it can.
    const ring: Terminal[] = [];
    const merchants = new Set<string>();
    for (const t of pool) {
      if (ring.length < wanted && !merchants.has(t.merchant.id) && !this.ctx.taken.has(t.serial)) {
        ring.push(t);
        merchants.add(t.merchant.id);
      }
    }
    for (const t of pool) if (ring.length < wanted && !ring.includes(t)) ring.push(t);
    if (ring.length < 2) {
      this.cannotPlace(
        `region ${region.id} has fewer than 2 terminals open throughout the window; a ring needs at least 2`,
      );
    }
    for (const t of ring) this.ctx.taken.add(t.serial);
    const cards = Array.from({ length: this.params['cards'] as number }, () => this.populationCard(region));
    const perMinute = this.params['attempts_per_card_per_minute'] as number;
    const rng = this.maker.rng;
    const entries = new WeightedTable<EntryMode>([
      ['SWIPE', 40],
      ['CHIP', 30],
      ['CONTACTLESS', 30],
    ]);
    const declines = new WeightedTable<string>([
      ['51', 50],
      ['61', 30],
      ['05', 20],
    ]);
    const injected: SimEvent[] = [];
    for (const card of cards) {
      let pos = rng.int(0, ring.length - 1);
      for (
        let t = this.spec.start + rng.float(0, Math.min(60_000, (this.spec.end - this.spec.start) / 10));
        t < this.spec.end;
        t += Math.max(10_000, rng.exponential(60_000 / perMinute))
      ) {
        const terminal = ring[pos % ring.length] as Terminal;
        pos += rng.chance(0.3) ? 2 : 1;
        injected.push(
          this.maker.tx(terminal, t, {
            paymentMethod: card.product.type,
            entryMode: entries.pick(rng),
            pan: card.pan,
            amount: Math.round(rng.lognormal(25_000, 0.5) * region.perEuro),
            outcome: rng.chance(0.8)
              ? { status: 'APPROVED' }
              : { status: 'DECLINED', code: declines.pick(rng) },
          }),
        );
        if (injected.length > MAX_INJECTED) break;
      }
    }
    const labels = cards.map((c) => this.cardLabel(c.pan));
    return {
      entityIds: labels.map((c) => c.token),
      labelParams: {
        region: region.id,
        cards: labels,
        terminals: ring.map((t) => t.serial),
        merchants: [...new Set(ring.map((t) => t.merchant.id))],
      },
      injected,
    };
  }

  private refundAbuse(): Parts {
    const [terminal] = this.terminals(1, this.open, undefined) as [Terminal];
    const product = this.rng.pick(CARD_PRODUCTS.filter((c) => c.type !== 'PREPAID'));
    const pan = this.freshPan(product);
    const refunds = this.params['refunds'] as number;
    const rng = this.maker.rng;
    const span = (this.spec.end - this.spec.start) / refunds;
    const merchant = terminal.merchant;
    const injected: SimEvent[] = [];
    for (let k = 0; k < refunds; k++) {
      injected.push(
        this.maker.tx(terminal, this.spec.start + span * (k + rng.float(0.1, 0.9)), {
          type: 'REFUND',
          paymentMethod: product.type,
          entryMode: rng.chance(0.5) ? 'CHIP' : 'CONTACTLESS',
          pan,
          amount: Math.round(
            rng.lognormal(merchant.category.amountMedian * 2, 0.3) * merchant.region.perEuro,
          ),
          outcome: { status: 'APPROVED' },
        }),
      );
    }
    const card = this.cardLabel(pan);
    return {
      entityIds: [card.token],
      labelParams: { card, merchant_id: merchant.id, terminal: terminal.serial },
      injected,
    };
  }

  private duplicates(): Parts {
    const [terminal] = this.terminals(1, this.open, undefined) as [Terminal];
    const share = this.params['duplicate_share'] as number;
    const maxDelay = this.params['max_delay_ms'] as number;
    const end = this.spec.end;
    const effects = this.rng.fork('effects');
    const copyOf = (ev: SimTransaction, rng: Rng): SimTransaction => {
      const f = ev.fields;
      const requestTime = f.request_time + rng.int(Math.min(500, maxDelay), maxDelay);
      const latency = (f.response_time ?? f.request_time + 200) - f.request_time;
      const copy: TransactionFields = {
        ...f,
        event_id: this.maker.eventId(),
        request_time: requestTime,
        response_time: requestTime + latency,
        stan: this.maker.stan(),
        auth_code: authCode(rng),
        rrn: retrievalReference(requestTime, 990_000 + rng.int(0, 9_999)),
      };
      return simTransaction(copy, [this.id]);
    };
    const rng = this.maker.rng;
    const injected: SimEvent[] = [];
    for (const t of poissonTimes(
      rng,
      this.spec.start,
      end - maxDelay,
      this.params['extra_sales_per_minute'] as number,
    )) {
      const card = this.ctx.cards.pick(terminal.merchant.region, null, rng);
      const original = this.maker.tx(terminal, t, {
        paymentMethod: card.product.type,
        entryMode: rng.chance(0.6) ? 'CONTACTLESS' : 'CHIP',
        pan: card.pan,
        amount: sampleAmount(terminal.merchant.category, terminal.merchant.region, rng),
        outcome: { status: 'APPROVED' },
      });
      injected.push(original, copyOf(original, rng));
    }
    return {
      entityIds: [terminal.serial],
      labelParams: { merchant_id: terminal.merchant.id },
      injected,
      transformTransaction: (ev) => {
        const f = ev.fields;
        if (f.terminal_serial !== terminal.serial) return undefined;
        if (f.transaction_type !== 'SALE' || f.status !== 'APPROVED' || f.pan === null) return undefined;
        if (f.request_time + maxDelay >= end || !effects.chance(share)) return undefined;
        return [simTransaction(f, tag(ev, this.id)), copyOf(ev, effects)];
      },
    };
  }

  private impossibleTravel(): Parts {
    if (this.fleet.regions.length < 2) {
      this.cannotPlace(
        'needs terminals in two regions far apart, and the fleet has one region (use --regions 2 or more)',
      );
    }
    const open = this.open;
    const openIn = (r: Region) => this.fleet.terminals.filter((t) => t.merchant.region === r && open(t));
    const named = this.region();
    const homes = named ? [named] : this.rng.shuffle(this.fleet.regions.filter((r) => openIn(r).length > 0));
    for (const home of homes) {
      const away = this.fleet.regions
        .filter((r) => r !== home && openIn(r).length > 0)
        .map((r) => ({ r, km: distanceKm(home.latitude, home.longitude, r.latitude, r.longitude) }))
        .sort((a, b) => b.km - a.km)[0];
      if (away === undefined || openIn(home).length === 0) continue;
      return this.travel(home, away.r, away.km, openIn(home), openIn(away.r));
    }
    this.cannotPlace(
      'needs open terminals in two regions throughout the window; pick a window in opening hours',
    );
  }

  private travel(
    home: Region,
    away: Region,
    km: number,
    homeTerminals: Terminal[],
    awayTerminals: Terminal[],
  ): Parts {
    const hops = this.params['hops'] as number;
    const window = this.spec.end - this.spec.start;
    // Far faster than any flight (900 km/h), yet never closer than a minute apart.
    const gap = Math.max(60_000, Math.min((km / 3000) * 3_600_000, (window - 30_000) / (hops - 1)));
    const speed = km / (gap / 3_600_000);
    if (this.spec.start + gap * (hops - 1) >= this.spec.end || speed < 1_200) {
      this.cannotPlace(
        `${home.id} to ${away.id} (${Math.round(km)} km) needs a window of at least ${Math.ceil(((hops - 1) * Math.max(60_000, (km / 3000) * 3_600_000) + 30_000) / 60_000)} minutes for ${hops} hops`,
        '.end',
      );
    }
    const card = this.populationCard(home);
    const places = [this.rng.pick(homeTerminals), this.rng.pick(awayTerminals)] as const;
    for (const t of places) this.ctx.taken.add(t.serial);
    const rng = this.maker.rng;
    const t0 =
      this.spec.start + rng.float(0, Math.min(30_000, this.spec.end - this.spec.start - gap * (hops - 1)));
    const injected: SimEvent[] = [];
    const legs: Record<string, unknown>[] = [];
    for (let k = 0; k < hops; k++) {
      const terminal = places[k % 2] as Terminal;
      const time = Math.floor(t0 + k * gap);
      injected.push(
        this.maker.tx(terminal, time, {
          paymentMethod: card.product.type,
          entryMode: rng.chance(0.5) ? 'CHIP' : 'CONTACTLESS',
          pan: card.pan,
          amount: sampleAmount(terminal.merchant.category, terminal.merchant.region, rng),
          outcome: { status: 'APPROVED' },
        }),
      );
      legs.push({
        terminal: terminal.serial,
        merchant_id: terminal.merchant.id,
        region: terminal.merchant.region.id,
        latitude: terminal.latitude,
        longitude: terminal.longitude,
        time: iso(time),
      });
    }
    const label = this.cardLabel(card.pan);
    return {
      entityIds: [label.token],
      labelParams: { card: label, legs, distance_km: Math.round(km), speed_kmh: Math.round(speed) },
      injected,
      firstEvidence: Math.floor(t0 + gap),
    };
  }

  private fallbackSpike(): Parts {
    const [terminal] = this.terminals(1, this.open, undefined) as [Terminal];
    const share = this.params['share'] as number;
    const declineShare = this.params['decline_share'] as number;
    const effects = this.rng.fork('effects');
    const rng = this.maker.rng;
    const weak = (r: Rng): EntryMode => (r.chance(0.75) ? 'FALLBACK' : 'SWIPE');
    const declines = new WeightedTable<string>([
      ['05', 50],
      ['57', 25],
      ['14', 25],
    ]);
    const injected: SimEvent[] = poissonTimes(
      rng,
      this.spec.start,
      this.spec.end,
      this.params['extra_attempts_per_minute'] as number,
    ).map((t) => {
      const card = this.ctx.cards.pick(terminal.merchant.region, null, rng);
      return this.maker.tx(terminal, t, {
        paymentMethod: card.product.type,
        entryMode: weak(rng),
        pan: card.pan,
        amount: sampleAmount(terminal.merchant.category, terminal.merchant.region, rng),
        outcome: rng.chance(declineShare)
          ? { status: 'DECLINED', code: declines.pick(rng) }
          : { status: 'APPROVED' },
      });
    });
    return {
      entityIds: [terminal.serial],
      labelParams: { merchant_id: terminal.merchant.id },
      injected,
      transformTransaction: (ev) => {
        const f = ev.fields;
        if (f.terminal_serial !== terminal.serial || f.pan === null || WEAK_ENTRY.includes(f.entry_mode))
          return undefined;
        if (f.payment_method === 'CONTACTLESS' || !effects.chance(share)) return undefined;
        return [simTransaction({ ...f, entry_mode: weak(effects) }, tag(ev, this.id))];
      },
    };
  }

  private offHours(): Parts {
    const [terminal] = this.terminals(
      1,
      (t) => closedThroughout(t, this.spec.start, this.spec.end),
      'needs its merchant closed throughout the window (off-hours activity happens in closed hours)',
    ) as [Terminal];
    const rng = this.maker.rng;
    // Evenly spread with jitter, at least one: a closed terminal has no other traffic to show.
    const count = Math.max(
      1,
      Math.round(
        ((this.params['attempts_per_minute'] as number) * (this.spec.end - this.spec.start)) / 60_000,
      ),
    );
    const span = (this.spec.end - this.spec.start) / count;
    const times = Array.from(
      { length: count },
      (_, k) => this.spec.start + span * (k + rng.float(0.05, 0.95)),
    );
    const injected: SimEvent[] = times.map((t) => {
      const card = this.ctx.cards.pick(terminal.merchant.region, null, rng);
      return this.maker.tx(terminal, t, {
        paymentMethod: card.product.type,
        entryMode: rng.chance(0.5) ? 'CONTACTLESS' : 'CHIP',
        pan: card.pan,
        amount: sampleAmount(terminal.merchant.category, terminal.merchant.region, rng),
        outcome: rng.chance(0.95) ? { status: 'APPROVED' } : { status: 'DECLINED', code: '05' },
      });
    });
    return {
      entityIds: [terminal.serial],
      labelParams: {
        merchant_id: terminal.merchant.id,
        opening_hours: `${terminal.merchant.hours.open}-${terminal.merchant.hours.close}${terminal.merchant.hours.closedSunday ? ', closed Sundays' : ''} (UTC${terminal.merchant.region.utcOffsetMin >= 0 ? '+' : '-'}${Math.abs(terminal.merchant.region.utcOffsetMin / 60)})`,
      },
      injected,
    };
  }
}
