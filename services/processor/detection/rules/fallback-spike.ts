import type { EntryMode, TransactionEvent } from '../../../shared/avro/types.generated.ts';
import type { Hit } from '../hit.ts';
import { duration, int, num, share, stringList } from '../rule-params.ts';
import { placementLabels, type SettingsReader, type TransactionRule } from '../rule.ts';
import { defineRule, type SettingsOf } from '../rules-file.ts';
import { binomialTail } from '../stats/tails.ts';

/**
 * `fallback_spike`: a terminal's share of weak entry modes (magstripe fallback after a failed chip
 * read, plain swipe, keyed entry) jumps. Skimmed or cloned cards cannot do chip, so a fraud run on
 * a terminal shows as a burst of FALLBACK/SWIPE/MANUAL attempts; a damaged chip reader does the
 * same, which is worth an alert too.
 *
 * Per terminal it keeps the card attempts of the sliding window (request time) and the terminal's
 * usual share of every entry mode: an exponentially weighted mean over the attempts that left the
 * window (so a spike is never compared with a baseline it has already pulled up), a plain mean
 * while fewer than `baseline_attempts` were learnt. Keeping one share per mode (not one for the
 * watched set) lets a reloaded `entry_modes` apply to the baseline at once: the usual share of a
 * set is the sum of its modes'.
 *
 * A hit needs, within the window, at least `min_attempts` attempts of which the watched modes make
 * a share of at least `min_share` and at least `factor` × max(usual share, `baseline_floor`), and
 * that count must be improbable (one-sided binomial tail ≤ `significance`) if the attempts followed
 * the usual share. The share tests alone fire on small windows by chance: 4 swipes out of 10 happen
 * 1 % of the time on a terminal that swipes 10 %; in a simulated week of 200 terminals (200 000
 * attempts) they fired on 24 terminals, with the tail test on none. A terminal whose usual share is
 * above 1/`factor` cannot fire: nothing can triple its share. A sustained shift becomes the new
 * usual after about `baseline_attempts` attempts.
 *
 * Warm-up: no hit before `min_history` attempts were learnt (about an hour for a terminal doing one
 * a minute), after a start, a restart or a partition move alike: the baseline lives in memory, and
 * the replay rebuilds only the open KPI windows' few minutes.
 *
 * Window eviction by `expire(now)` runs on the terminal's clock: `now` minus the difference between
 * its last receive time and request time, so a terminal whose clock is off keeps its window.
 * Attempts are counted once per delivery; a redelivered attempt of a watched mode is recognised
 * among the last few watched attempts and skipped.
 *
 * Memory per terminal (measured with --expose-gc, 20 000 terminals): about 550 bytes with an
 * empty window (state, usual shares, map entry), plus about 40 bytes per attempt in the window and
 * 60 per watched attempt's id (at most 10): about 1.5 KB for a terminal doing one attempt a minute
 * with a third of them watched.
 */
export const fallbackSpikeRule = defineRule({
  name: 'fallback_spike',
  doc: "A terminal's share of magstripe-fallback, swipe or keyed card attempts jumps well above its own usual share within a sliding window.",
  params: {
    window: duration({
      doc: 'Sliding span (request time) the share is measured over.',
      min: 60_000,
      max: 6 * 3_600_000,
    }),
    entry_modes: stringList({
      doc: 'Entry modes whose share is watched.',
      item: /^(CHIP|CONTACTLESS|SWIPE|MANUAL|FALLBACK|UNKNOWN)$/,
    }),
    min_attempts: int({
      doc: 'Card attempts in the window before the share is judged.',
      min: 2,
      max: 10_000,
    }),
    min_share: share('The watched modes must make at least this share of the attempts in the window…'),
    factor: num({
      doc: '…and at least this many times the usual share (or baseline_floor, the higher)…',
      min: 1,
      max: 100,
    }),
    significance: num({
      doc: '…and so many that a terminal at its usual share would reach them with at most this probability (binomial tail).',
      min: 1e-15,
      max: 1,
    }),
    baseline_floor: share(
      'Usual share assumed at least this, so a terminal that never swipes is not judged on a few.',
    ),
    baseline_attempts: int({
      doc: 'Memory of the usual share, in attempts: exponential weight 1/this (a plain mean before that many).',
      min: 10,
      max: 1_000_000,
    }),
    min_history: int({
      doc: 'Attempts learnt (those older than the window) before a terminal is judged: the warm-up.',
      min: 0,
      max: 1_000_000,
    }),
    max_attempts_kept: int({
      doc: 'Attempts kept in the window per terminal (memory bound); older ones go into the usual share.',
      min: 10,
      max: 100_000,
    }),
    forget_after: duration({
      doc: 'A terminal not seen for this long (gateway time) is forgotten, its usual share included.',
      min: 3_600_000,
      max: 365 * 86_400_000,
    }),
  },
  defaults: {
    enabled: true,
    severity: 'WARNING',
    resolve_after: 900_000,
    window: 900_000,
    entry_modes: ['FALLBACK', 'SWIPE', 'MANUAL'],
    min_attempts: 10,
    min_share: 0.4,
    factor: 3,
    significance: 1e-5,
    baseline_floor: 0.05,
    baseline_attempts: 500,
    min_history: 50,
    max_attempts_kept: 500,
    forget_after: 7 * 86_400_000,
  },
});

type Settings = SettingsOf<typeof fallbackSpikeRule>;

const MODES: readonly EntryMode[] = ['CHIP', 'CONTACTLESS', 'SWIPE', 'MANUAL', 'FALLBACK', 'UNKNOWN'];
const MODE_INDEX: ReadonlyMap<string, number> = new Map(MODES.map((m, i) => [m, i]));
/** Watched attempts whose ids are kept, for evidence and to skip a redelivery. */
const MAX_EVIDENCE = 10;

interface TerminalState {
  /** Request times and entry-mode indexes of the window's attempts, in arrival order. */
  readonly times: number[];
  readonly modes: number[];
  /** Attempts per mode in the window. */
  readonly inWindow: number[];
  /** Newest request time in the window: the sliding window ends there. */
  newest: number;
  /** Usual share per mode, and how many attempts it learnt from. */
  readonly usual: number[];
  learnt: number;
  /** Last watched attempts (ids and request times), oldest first. */
  readonly watchedIds: string[];
  readonly watchedTimes: number[];
  lastReceived: number;
  /** lastReceived minus the request time of that attempt: the terminal clock's lag behind ours. */
  skew: number;
}

/** Types a terminal does not key in with a card: generated by the system or the host. */
const NOT_CARD_ENTRY: ReadonlySet<string> = new Set(['VOID', 'REVERSAL']);

export class FallbackSpikeRule implements TransactionRule {
  readonly definition = fallbackSpikeRule;
  private readonly byTerminal = new Map<string, TerminalState>();
  private attempts = 0;
  private watched: { list: readonly string[]; set: ReadonlySet<string> } | undefined;

  constructor(private readonly settings: SettingsReader<typeof fallbackSpikeRule>) {}

  /** Terminals held plus attempts in their windows. */
  get size(): number {
    return this.byTerminal.size + this.attempts;
  }

  onTransaction(ev: TransactionEvent): Hit[] {
    if (ev.card_token === null || NOT_CARD_ENTRY.has(ev.transaction_type)) return [];
    const mode = MODE_INDEX.get(ev.entry_mode) ?? MODE_INDEX.get('UNKNOWN')!;
    const s = this.settings();
    const watched = this.watchedModes(s);
    let t = this.byTerminal.get(ev.terminal_serial);
    if (t === undefined) {
      t = {
        times: [],
        modes: [],
        inWindow: MODES.map(() => 0),
        newest: ev.request_time,
        usual: MODES.map(() => 0),
        learnt: 0,
        watchedIds: [],
        watchedTimes: [],
        lastReceived: ev.gateway_received_time,
        skew: ev.gateway_received_time - ev.request_time,
      };
      this.byTerminal.set(ev.terminal_serial, t);
    }
    const isWatched = watched.has(MODES[mode]!);
    if (isWatched && t.watchedIds.includes(ev.event_id)) return [];
    if (ev.gateway_received_time >= t.lastReceived) {
      t.lastReceived = ev.gateway_received_time;
      t.skew = ev.gateway_received_time - ev.request_time;
    }

    t.newest = Math.max(t.newest, ev.request_time);
    this.evict(t, t.newest - s.window, s);
    if (ev.request_time <= t.newest - s.window) {
      // Older than the window (a flushed offline queue): history, not evidence.
      this.learn(t, mode, s);
      return [];
    }
    t.times.push(ev.request_time);
    t.modes.push(mode);
    t.inWindow[mode]! += 1;
    this.attempts += 1;
    while (t.times.length > s.max_attempts_kept) this.evictOldest(t, s);
    if (isWatched) {
      t.watchedIds.push(ev.event_id);
      t.watchedTimes.push(ev.request_time);
      if (t.watchedIds.length > MAX_EVIDENCE) {
        t.watchedIds.shift();
        t.watchedTimes.shift();
      }
    }
    return this.judge(ev, t, s, watched);
  }

  /** The watched modes as a set, rebuilt only when a reload changed the list. */
  private watchedModes(s: Settings): ReadonlySet<string> {
    if (this.watched?.list !== s.entry_modes)
      this.watched = { list: s.entry_modes, set: new Set(s.entry_modes) };
    return this.watched.set;
  }

  private judge(ev: TransactionEvent, t: TerminalState, s: Settings, watched: ReadonlySet<string>): Hit[] {
    const n = t.times.length;
    if (t.learnt < s.min_history || n < s.min_attempts) return [];
    let k = 0;
    let usual = 0;
    for (let m = 0; m < MODES.length; m++) {
      if (!watched.has(MODES[m]!)) continue;
      k += t.inWindow[m]!;
      usual += t.usual[m]!;
    }
    const observed = k / n;
    const reference = Math.max(usual, s.baseline_floor);
    const threshold = Math.max(s.min_share, s.factor * reference);
    if (observed < threshold || reference >= 1) return [];
    const p = binomialTail(n, k, reference);
    if (p > s.significance) return [];

    let start = Infinity;
    for (const time of t.times) start = Math.min(start, time);
    const modes = MODES.filter((m) => watched.has(m));
    const horizon = t.newest - s.window;
    return [
      {
        rule: this.definition.name,
        severity: s.severity,
        level: 'TERMINAL',
        entityId: ev.terminal_serial,
        windowStart: start,
        windowEnd: t.newest + 1,
        value: round(observed, 3),
        threshold: round(threshold, 3),
        summary: `${k} of ${n} card attempts at terminal ${ev.terminal_serial} within ${Math.round(s.window / 60_000)} min were ${modes.join('/')} (share ${observed.toFixed(2)}, usually ${usual.toFixed(2)})`,
        evidence: {
          attempts: String(n),
          watched_attempts: String(k),
          share: observed.toFixed(3),
          usual_share: usual.toFixed(3),
          p_value: p.toExponential(1),
          by_mode: modes.map((m) => `${m}=${t.inWindow[MODE_INDEX.get(m)!]}`).join(','),
        },
        eventIds: t.watchedIds.filter((_, i) => t.watchedTimes[i]! > horizon),
        labels: placementLabels(ev),
      },
    ];
  }

  /** Moves the attempts at or before `horizon` (request time) from the window into the usual share. */
  private evict(t: TerminalState, horizon: number, s: Settings): void {
    while (t.times.length > 0 && t.times[0]! <= horizon) this.evictOldest(t, s);
    while (t.watchedTimes.length > 0 && t.watchedTimes[0]! <= horizon) {
      t.watchedTimes.shift();
      t.watchedIds.shift();
    }
    // An emptied array keeps its backing store after shift(); truncating releases it (a quiet
    // terminal then costs about 300 bytes less).
    if (t.times.length === 0) t.times.length = t.modes.length = 0;
    if (t.watchedIds.length === 0) t.watchedIds.length = t.watchedTimes.length = 0;
  }

  private evictOldest(t: TerminalState, s: Settings): void {
    t.times.shift();
    const mode = t.modes.shift()!;
    t.inWindow[mode]! -= 1;
    this.attempts -= 1;
    this.learn(t, mode, s);
  }

  private learn(t: TerminalState, mode: number, s: Settings): void {
    t.learnt += 1;
    const alpha = Math.max(1 / t.learnt, 1 / s.baseline_attempts);
    for (let m = 0; m < MODES.length; m++) t.usual[m]! += alpha * ((m === mode ? 1 : 0) - t.usual[m]!);
  }

  expire(now: number): void {
    const s = this.settings();
    for (const [serial, t] of this.byTerminal) {
      if (now - t.lastReceived >= s.forget_after) {
        this.attempts -= t.times.length;
        this.byTerminal.delete(serial);
        continue;
      }
      this.evict(t, now - t.skew - s.window, s);
    }
  }
}

const round = (x: number, digits: number): number => Number(x.toFixed(digits));
