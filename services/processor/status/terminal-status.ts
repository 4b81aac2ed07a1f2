import type {
  ConnectionType,
  PaperState,
  TerminalHeartbeat,
  TerminalState,
  TerminalStatus,
  TransactionEvent,
} from '../../shared/avro/types.generated.ts';
import { type ReasonCode, REASON_CODES, orderReasons, sameReasons } from './reasons.ts';
import { Outcome, QueueMinimum, RecentTransactions, idHash } from './recent-window.ts';

export { REASON_CODES, type ReasonCode };

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;

/**
 * Thresholds of the status rules (docs/TERMINAL_STATUS.md lists every rule with its default).
 * Every field is optional in the constructor; missing ones take the defaults.
 */
export interface TerminalStatusOptions {
  /**
   * OFFLINE once no heartbeat and no transaction was received (gateway_received_time) for this long.
   * @default 300000 (5 min)
   */
  readonly offlineAfterMs: number;
  /** `low_battery` when the newest heartbeat reports battery_pct ≤ this. @default 15 */
  readonly lowBatteryPct: number;
  /** The rate rules look at the last this-many transactions (by request_time)… @default 30 */
  readonly rateWindowSize: number;
  /** …among those received in the last this-many ms. @default 900000 (15 min) */
  readonly rateWindowMs: number;
  /** The rate rules hold only over at least this many transactions in the window. @default 10 */
  readonly minTransactions: number;
  /** `high_decline_rate` when DECLINED / transactions ≥ this. @default 0.5 */
  readonly declineShareThreshold: number;
  /** `high_timeout_rate` when TIMEOUT / transactions ≥ this. @default 0.2 */
  readonly timeoutShareThreshold: number;
  /**
   * `offline_queue_growing` when the newest heartbeat's offline_queue_length exceeds the smallest one
   * of the heartbeats of the last `queueWindowMs` by at least this much. At most 255.
   * @default 5
   */
  readonly queueGrowthMin: number;
  /** Span of heartbeats (by event_time) the queue rule compares. @default 900000 (15 min) */
  readonly queueWindowMs: number;
  /**
   * When > 0, an event or tick re-publishes a terminal whose data changed (battery, times, rates…)
   * but whose status and reasons did not, once its last record is this old. 0: only changes.
   * @default 0
   */
  readonly refreshAfterMs: number;
  /**
   * An OFFLINE terminal not seen, and not published, for this long is dropped from memory at a
   * tick, without a record (its last OFFLINE record stays on the topic). 0: never; otherwise at
   * least offlineAfterMs.
   * @default 2592000000 (30 days)
   */
  readonly forgetAfterMs: number;
  /** The processor's clock: updated_time of records, and the floor of their version. @default Date.now */
  readonly clock: () => number;
}

export const DEFAULT_STATUS_OPTIONS: TerminalStatusOptions = Object.freeze({
  offlineAfterMs: 5 * MINUTE_MS,
  lowBatteryPct: 15,
  rateWindowSize: 30,
  rateWindowMs: 15 * MINUTE_MS,
  minTransactions: 10,
  declineShareThreshold: 0.5,
  timeoutShareThreshold: 0.2,
  queueGrowthMin: 5,
  queueWindowMs: 15 * MINUTE_MS,
  refreshAfterMs: 0,
  forgetAfterMs: 30 * DAY_MS,
  clock: () => Date.now(),
});

function checkOptions(o: TerminalStatusOptions): void {
  const int = (key: keyof TerminalStatusOptions, min: number, max = Number.MAX_SAFE_INTEGER): void => {
    const v = o[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      throw new RangeError(
        `terminal status option ${key}=${String(v)}: expected an integer in [${min}, ${max}]`,
      );
    }
  };
  const share = (key: 'declineShareThreshold' | 'timeoutShareThreshold'): void => {
    const v = o[key];
    if (typeof v !== 'number' || !(v > 0 && v <= 1)) {
      throw new RangeError(`terminal status option ${key}=${String(v)}: expected a share in (0, 1]`);
    }
  };
  int('offlineAfterMs', 1);
  int('lowBatteryPct', 0, 100);
  int('rateWindowSize', 1, 10_000);
  int('rateWindowMs', 1);
  int('minTransactions', 1, o.rateWindowSize);
  share('declineShareThreshold');
  share('timeoutShareThreshold');
  int('queueGrowthMin', 1, 255);
  int('queueWindowMs', 1);
  int('refreshAfterMs', 0);
  int('forgetAfterMs', 0);
  if (o.forgetAfterMs !== 0 && o.forgetAfterMs < o.offlineAfterMs) {
    throw new RangeError(
      `terminal status option forgetAfterMs=${o.forgetAfterMs}: expected 0 or at least offlineAfterMs (${o.offlineAfterMs})`,
    );
  }
  if (typeof o.clock !== 'function') throw new TypeError('terminal status option clock: expected a function');
}

/** Everything the tracker holds about one terminal (see "Memory" in docs/TERMINAL_STATUS.md). */
interface Terminal {
  readonly serial: string;
  merchantId: string | null;
  /** Event time of the event merchant_id came from, so an older event cannot overwrite it. */
  merchantTime: number;
  merchantName: string | null;
  region: string | null;
  acquirerId: string | null;
  latitude: number | null;
  longitude: number | null;
  positionTime: number;
  lastTransactionTime: number | null;
  lastHeartbeatTime: number | null;
  lastSeen: number;
  /** What silence is measured from: lastSeen, or later after a restore (grace). */
  silenceFrom: number;
  /** The terminal's "now": the latest gateway received time or tick, never going back. */
  clock: number;
  reportedOnline: boolean | null;
  batteryPct: number | null;
  paperState: PaperState;
  signalStrengthDbm: number | null;
  connectionType: ConnectionType;
  offlineQueueLength: number | null;
  firmwareVersion: string | null;
  appVersion: string | null;
  window: RecentTransactions | undefined;
  queue: QueueMinimum | undefined;
  // As of the last evaluation:
  recentCount: number;
  declineShare: number | null;
  timeoutShare: number | null;
  status: TerminalState;
  reasons: readonly string[];
  // As of the last record published (or restored):
  since: number;
  version: number;
  updatedTime: number;
  /** False until the terminal's first record. */
  published: boolean;
  /** Data changed since the last record (for refreshAfterMs). */
  dirty: boolean;
  /**
   * Merchant, name, region or acquirer changed, or a first position arrived, since the last
   * record: readers group the fleet by these, so such a change is published too.
   */
  placementChanged: boolean;
}

function newTerminal(serial: string, receivedTime: number): Terminal {
  return {
    serial,
    merchantId: null,
    merchantTime: -Infinity,
    merchantName: null,
    region: null,
    acquirerId: null,
    latitude: null,
    longitude: null,
    positionTime: -Infinity,
    lastTransactionTime: null,
    lastHeartbeatTime: null,
    lastSeen: receivedTime,
    silenceFrom: receivedTime,
    clock: receivedTime,
    reportedOnline: null,
    batteryPct: null,
    paperState: 'UNKNOWN',
    signalStrengthDbm: null,
    connectionType: 'UNKNOWN',
    offlineQueueLength: null,
    firmwareVersion: null,
    appVersion: null,
    window: undefined,
    queue: undefined,
    recentCount: 0,
    declineShare: null,
    timeoutShare: null,
    status: 'UNKNOWN',
    reasons: [],
    since: receivedTime,
    version: 0,
    updatedTime: 0,
    published: false,
    dirty: true,
    placementChanged: false,
  };
}

function outcomeOf(status: TransactionEvent['status']): Outcome {
  return status === 'DECLINED' ? Outcome.DECLINED : status === 'TIMEOUT' ? Outcome.TIMEOUT : Outcome.OTHER;
}

const MAX_TIME = Number.MAX_SAFE_INTEGER;

/**
 * Keeps the status of every terminal from its heartbeats and transactions, and says when it
 * changes. Pure and synchronous: no I/O, no timers; the caller feeds events, calls {@link tick}
 * with the current time, and publishes what the calls return.
 *
 * Every event method and {@link tick} return the records to publish: complete
 * {@link TerminalStatus} snapshots, at most one per terminal, only for terminals whose status, set
 * of reasons or placement (merchant, merchant name, region, acquirer, first known position)
 * changed — and, with `refreshAfterMs`, stale ones. A terminal's first event always yields its
 * first record. Other fields (battery, times, rates…) ride along with the next record.
 *
 * Time: the data (which heartbeat is newest, the order of transactions) follows event times
 * (event_time, request_time); silence and the ageing of the rate window follow
 * gateway_received_time and the `now` of {@link tick}, which share the servers' clock. An event
 * older than what the tracker holds never overwrites newer data.
 */
export class TerminalStatusTracker {
  readonly options: TerminalStatusOptions;
  private readonly terminals = new Map<string, Terminal>();
  /** The latest `now` given to {@link tick}: a terminal first seen through a late event is judged at it. */
  private now = -Infinity;

  constructor(options: Partial<TerminalStatusOptions> = {}) {
    const merged = { ...DEFAULT_STATUS_OPTIONS };
    for (const [key, value] of Object.entries(options)) {
      if (value !== undefined) (merged as Record<string, unknown>)[key] = value;
    }
    checkOptions(merged);
    this.options = Object.freeze(merged);
  }

  /** Number of terminals held in memory. */
  get size(): number {
    return this.terminals.size;
  }

  onTransaction(ev: TransactionEvent): TerminalStatus[] {
    const t = this.seen(ev.terminal_serial, ev.gateway_received_time);
    const time = ev.request_time;
    if (t.lastTransactionTime === null || time >= t.lastTransactionTime) {
      t.lastTransactionTime = time;
      if (t.merchantName !== ev.merchant_name || t.region !== ev.region || t.acquirerId !== ev.acquirer_id) {
        t.placementChanged = true;
      }
      t.merchantName = ev.merchant_name;
      t.region = ev.region;
      t.acquirerId = ev.acquirer_id;
    }
    this.setMerchant(t, ev.merchant_id, time);
    if (ev.latitude !== null && ev.longitude !== null && time >= t.positionTime) {
      // A first position is news for the map; later moves (mobile terminals report one per
      // transaction) ride along with the next record.
      if (t.latitude === null) t.placementChanged = true;
      t.latitude = ev.latitude;
      t.longitude = ev.longitude;
      t.positionTime = time;
    }
    t.window ??= new RecentTransactions(this.options.rateWindowSize);
    t.window.add(time, ev.gateway_received_time, idHash(ev.event_id), outcomeOf(ev.status));
    return this.publishIfChanged(t);
  }

  onHeartbeat(hb: TerminalHeartbeat): TerminalStatus[] {
    const t = this.seen(hb.terminal_serial, hb.gateway_received_time);
    const time = hb.event_time;
    if (hb.merchant_id !== null) this.setMerchant(t, hb.merchant_id, time);
    // Strictly newer only: an older (or re-delivered) heartbeat proves the terminal was alive,
    // nothing more.
    if (t.lastHeartbeatTime === null || time > t.lastHeartbeatTime) {
      t.lastHeartbeatTime = time;
      t.reportedOnline = hb.online;
      t.batteryPct = hb.battery_pct;
      t.paperState = hb.paper_state;
      t.signalStrengthDbm = hb.signal_strength_dbm;
      t.connectionType = hb.connection_type;
      t.offlineQueueLength = hb.offline_queue_length;
      t.firmwareVersion = hb.firmware_version;
      t.appVersion = hb.app_version;
      t.queue ??= new QueueMinimum(this.options.queueWindowMs, this.options.queueGrowthMin + 1);
      t.queue.add(time, hb.offline_queue_length);
    }
    return this.publishIfChanged(t);
  }

  /**
   * Re-evaluates every terminal at `now` (ms since the epoch, the processor's clock): terminals
   * silent for offlineAfterMs turn OFFLINE, transactions older than rateWindowMs leave the rate
   * window, OFFLINE terminals silent for forgetAfterMs are forgotten. O(terminals); call it every
   * few seconds. While catching up on a backlog, pass the consumer's position in time (e.g. the
   * highest gateway_received_time consumed) rather than the wall clock, or the backlog looks like
   * silence.
   */
  tick(now: number): TerminalStatus[] {
    const out: TerminalStatus[] = [];
    const { forgetAfterMs } = this.options;
    const processorNow = this.options.clock();
    if (now > this.now) this.now = now;
    for (const t of this.terminals.values()) {
      if (now > t.clock) t.clock = now;
      out.push(...this.publishIfChanged(t));
      // Also forgetAfterMs since its last record: if it comes back, its next version (at least the
      // processor clock) is then above every version it had.
      if (
        forgetAfterMs > 0 &&
        t.status === 'OFFLINE' &&
        t.clock - t.lastSeen >= forgetAfterMs &&
        processorNow - t.updatedTime >= forgetAfterMs
      ) {
        this.terminals.delete(t.serial);
      }
    }
    return out;
  }

  /** The current record of one terminal (see {@link snapshot}), if it is held. */
  get(serial: string): TerminalStatus | undefined {
    const t = this.terminals.get(serial);
    return t?.published ? this.record(t) : undefined;
  }

  /**
   * One record per terminal held: status, reasons, since, version and updated_time of its last
   * record (a snapshot is not a new version), every other field as of now. Feeding it to
   * {@link restore} of a fresh tracker rebuilds the same state.
   */
  snapshot(): TerminalStatus[] {
    const out: TerminalStatus[] = [];
    for (const t of this.terminals.values()) if (t.published) out.push(this.record(t));
    return out;
  }

  /**
   * Rebuilds state from records: the compacted terminal-status topic read from the start, or the
   * rows of terminal_status_latest. Per terminal the highest version wins; a record not newer than
   * what is held is ignored, so call this before feeding events.
   *
   * Records carry counts, not the events behind them, so the windows are rebuilt to match: the rate
   * window gets recent_tx_count synthetic transactions with the recorded shares, the queue rule the
   * recorded length (and, if the record says it was growing, a sample queueGrowthMin lower). Both
   * are treated as received at `at`, and silence is measured from `at` at the earliest: a record
   * is only as fresh as the last change, so without this grace every quiet but healthy terminal
   * would turn OFFLINE at the first tick after a restart. Terminals restored OFFLINE stay OFFLINE.
   */
  restore(records: Iterable<TerminalStatus>, at: number = this.options.clock()): void {
    for (const r of records) {
      const held = this.terminals.get(r.terminal_serial);
      if (held && held.version >= r.version) continue;
      this.terminals.set(r.terminal_serial, this.fromRecord(r, at));
    }
  }

  private fromRecord(r: TerminalStatus, at: number): Terminal {
    const t = newTerminal(r.terminal_serial, r.last_seen_time);
    t.clock = Math.max(r.last_seen_time, this.now);
    const eventTime = Math.max(r.last_transaction_time ?? -Infinity, r.last_heartbeat_time ?? -Infinity);
    Object.assign(t, {
      merchantId: r.merchant_id,
      merchantTime: r.merchant_id === null ? -Infinity : eventTime,
      merchantName: r.merchant_name,
      region: r.region,
      acquirerId: r.acquirer_id,
      latitude: r.latitude,
      longitude: r.longitude,
      positionTime: r.latitude === null ? -Infinity : (r.last_transaction_time ?? -Infinity),
      lastTransactionTime: r.last_transaction_time,
      lastHeartbeatTime: r.last_heartbeat_time,
      silenceFrom: r.status === 'OFFLINE' ? r.last_seen_time : Math.max(r.last_seen_time, at),
      reportedOnline: r.reported_online,
      batteryPct: r.battery_pct,
      paperState: r.paper_state,
      signalStrengthDbm: r.signal_strength_dbm,
      connectionType: r.connection_type,
      offlineQueueLength: r.offline_queue_length,
      firmwareVersion: r.firmware_version,
      appVersion: r.app_version,
      recentCount: r.recent_tx_count,
      declineShare: r.recent_decline_share,
      timeoutShare: r.recent_timeout_share,
      status: r.status,
      reasons: [...r.reasons],
      since: r.since,
      version: r.version,
      updatedTime: r.updated_time,
      published: true,
      dirty: false,
    } satisfies Partial<Terminal>);

    const count = Math.min(r.recent_tx_count, this.options.rateWindowSize);
    if (count > 0) {
      const declined = Math.round((r.recent_decline_share ?? 0) * count);
      const timedOut = Math.min(count - declined, Math.round((r.recent_timeout_share ?? 0) * count));
      const received = Math.max(r.last_seen_time, at);
      const time = r.last_transaction_time ?? received;
      t.window = new RecentTransactions(this.options.rateWindowSize);
      // Spread each outcome evenly, so that real transactions pushing the oldest slots out move the
      // shares gradually rather than dropping all declines first.
      const spread = (outcome: Outcome, n: number) =>
        Array.from({ length: n }, (_, j) => ({ outcome, key: (j + 0.5) / n }));
      const slots = [
        ...spread(Outcome.DECLINED, declined),
        ...spread(Outcome.TIMEOUT, timedOut),
        ...spread(Outcome.OTHER, count - declined - timedOut),
      ].sort((a, b) => a.key - b.key);
      for (const { outcome } of slots) t.window.add(time, received, -1, outcome);
    }
    if (r.last_heartbeat_time !== null && r.offline_queue_length !== null) {
      const { queueGrowthMin, queueWindowMs } = this.options;
      t.queue = new QueueMinimum(queueWindowMs, queueGrowthMin + 1);
      if (r.reasons.includes('offline_queue_growing')) {
        t.queue.add(r.last_heartbeat_time, Math.max(0, r.offline_queue_length - queueGrowthMin));
      }
      t.queue.add(r.last_heartbeat_time, r.offline_queue_length);
    }
    return t;
  }

  private setMerchant(t: Terminal, merchantId: string, time: number): void {
    if (time < t.merchantTime) return;
    if (t.merchantId !== merchantId) t.placementChanged = true;
    t.merchantId = merchantId;
    t.merchantTime = time;
  }

  /** The terminal of an event, created on first sight, with its liveness and clock moved forward. */
  private seen(serial: string, receivedTime: number): Terminal {
    let t = this.terminals.get(serial);
    if (!t) {
      t = newTerminal(serial, receivedTime);
      t.clock = Math.max(receivedTime, this.now);
      this.terminals.set(serial, t);
    }
    if (receivedTime > t.lastSeen) t.lastSeen = receivedTime;
    if (receivedTime > t.silenceFrom) t.silenceFrom = receivedTime;
    if (receivedTime > t.clock) t.clock = receivedTime;
    t.dirty = true;
    return t;
  }

  /** Applies the rules at the terminal's clock; returns its new record if one is due. */
  private publishIfChanged(t: Terminal): TerminalStatus[] {
    const o = this.options;
    let reasons: ReasonCode[];
    let status: TerminalState;
    let changeTime = t.clock;

    if (t.window) {
      t.window.dropReceivedBefore(t.clock - o.rateWindowMs);
      const { count, declined, timedOut } = t.window.counts();
      if (count !== t.recentCount) t.dirty = true;
      t.recentCount = count;
      t.declineShare = count === 0 ? null : declined / count;
      t.timeoutShare = count === 0 ? null : timedOut / count;
    }

    if (t.clock - t.silenceFrom >= o.offlineAfterMs) {
      status = 'OFFLINE';
      reasons = ['silent'];
      changeTime = Math.min(t.silenceFrom + o.offlineAfterMs, MAX_TIME);
    } else {
      const held: ReasonCode[] = [];
      if (t.batteryPct !== null && t.batteryPct <= o.lowBatteryPct) held.push('low_battery');
      if (t.paperState === 'OUT') held.push('paper_out');
      if (t.paperState === 'LOW') held.push('paper_low');
      if (t.recentCount >= o.minTransactions) {
        if ((t.declineShare ?? 0) >= o.declineShareThreshold) held.push('high_decline_rate');
        if ((t.timeoutShare ?? 0) >= o.timeoutShareThreshold) held.push('high_timeout_rate');
      }
      const queueMin = t.queue?.min();
      if (
        t.offlineQueueLength !== null &&
        queueMin !== undefined &&
        t.offlineQueueLength - queueMin >= o.queueGrowthMin
      ) {
        held.push('offline_queue_growing');
      }
      if (t.reportedOnline === false) held.push('reports_offline');
      reasons = orderReasons(held);
      status = reasons.length === 0 ? 'ONLINE' : 'DEGRADED';
    }

    const statusChanged = !t.published || status !== t.status;
    const changed = statusChanged || t.placementChanged || !sameReasons(reasons, t.reasons);
    const now = o.clock();
    const refresh = !changed && o.refreshAfterMs > 0 && t.dirty && now - t.updatedTime >= o.refreshAfterMs;
    if (!changed && !refresh) return [];

    if (statusChanged) t.since = t.published ? Math.max(t.since, changeTime) : changeTime;
    t.status = status;
    t.reasons = reasons;
    t.version = Math.max(t.version + 1, now);
    t.updatedTime = now;
    t.published = true;
    t.dirty = false;
    t.placementChanged = false;
    return [this.record(t)];
  }

  private record(t: Terminal): TerminalStatus {
    return {
      terminal_serial: t.serial,
      merchant_id: t.merchantId,
      merchant_name: t.merchantName,
      region: t.region,
      acquirer_id: t.acquirerId,
      latitude: t.latitude,
      longitude: t.longitude,
      status: t.status,
      reasons: [...t.reasons],
      since: t.since,
      last_seen_time: t.lastSeen,
      last_heartbeat_time: t.lastHeartbeatTime,
      last_transaction_time: t.lastTransactionTime,
      reported_online: t.reportedOnline,
      battery_pct: t.batteryPct,
      paper_state: t.paperState,
      signal_strength_dbm: t.signalStrengthDbm,
      connection_type: t.connectionType,
      offline_queue_length: t.offlineQueueLength,
      firmware_version: t.firmwareVersion,
      app_version: t.appVersion,
      recent_tx_count: t.recentCount,
      recent_decline_share: t.declineShare,
      recent_timeout_share: t.timeoutShare,
      version: t.version,
      updated_time: t.updatedTime,
    };
  }
}
