import type { Store } from '../../shared/clickhouse/store.ts';
import { clickhouseTime } from '../../shared/clickhouse/rows.ts';
import { parseSubscriptionFilter, type SubscriptionFilter } from '../../shared/subscription-filter.ts';
import type { SecretBox } from './secret-box.ts';
import type { SubscriptionTables } from './tables.ts';

export interface StoredSubscription {
  id: string;
  name: string;
  filter: SubscriptionFilter;
  url: string;
  /** Signs every delivery; leaves the API only in the reply that created it. */
  secret: string;
  /** null: the worker's default (API_WEBHOOK_MAX_ATTEMPTS). */
  maxAttempts: number | null;
  deleted: boolean;
  createdTime: number;
  updatedTime: number;
  version: number;
}

export const DELIVERY_STATES = ['PENDING', 'SUCCEEDED', 'DEAD'] as const;
export type DeliveryState = (typeof DELIVERY_STATES)[number];
export type DeliveryEvent = 'alert' | 'kpi';

export interface Delivery {
  id: string;
  subscriptionId: string;
  event: DeliveryEvent;
  /** The JSON body, the same on every attempt. */
  payload: string;
  state: DeliveryState;
  /** Attempts since the delivery was created or last re-queued. */
  attempts: number;
  nextAttemptTime: number;
  lastStatus: number | null;
  lastError: string;
  createdTime: number;
  updatedTime: number;
  version: number;
}

export interface Attempt {
  deliveryId: string;
  subscriptionId: string;
  attempt: number;
  attemptedTime: number;
  /** HTTP status, null when no response came (refused, timed out). */
  status: number | null;
  error: string;
  durationMs: number;
}

const SUBSCRIPTION_SELECT = `toString(subscription_id) AS subscription_id, name, topic, filter, url, secret,
  max_attempts, deleted, toUnixTimestamp64Milli(created_time) AS created_time,
  toUnixTimestamp64Milli(updated_time) AS updated_time, version`;
const DELIVERY_SELECT = `toString(delivery_id) AS delivery_id, toString(subscription_id) AS subscription_id, event,
  payload, state, attempts, toUnixTimestamp64Milli(next_attempt_time) AS next_attempt_time, last_status,
  last_error, toUnixTimestamp64Milli(created_time) AS created_time,
  toUnixTimestamp64Milli(updated_time) AS updated_time, version`;

type Row = Record<string, unknown>;

/**
 * Query parameters travel in the request URL, which HTTP servers cap (Node's at 16 KiB of
 * headers): lists of ids are sent 200 (~7.5 KB) at a time.
 */
const IDS_PER_QUERY = 200;

function chunks<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += IDS_PER_QUERY) out.push(items.slice(i, i + IDS_PER_QUERY));
  return out;
}

function subscriptionOf(r: Row, box: SecretBox): StoredSubscription {
  const maxAttempts = Number(r['max_attempts']);
  return {
    id: String(r['subscription_id']),
    name: String(r['name']),
    filter: parseSubscriptionFilter(r['topic'], JSON.parse(String(r['filter'])) as unknown),
    url: String(r['url']),
    secret: box.open(String(r['secret'])),
    maxAttempts: maxAttempts === 0 ? null : maxAttempts,
    deleted: Number(r['deleted']) === 1,
    createdTime: Number(r['created_time']),
    updatedTime: Number(r['updated_time']),
    version: Number(r['version']),
  };
}

function deliveryOf(r: Row): Delivery {
  return {
    id: String(r['delivery_id']),
    subscriptionId: String(r['subscription_id']),
    event: String(r['event']) as DeliveryEvent,
    payload: String(r['payload']),
    state: String(r['state']) as DeliveryState,
    attempts: Number(r['attempts']),
    nextAttemptTime: Number(r['next_attempt_time']),
    lastStatus: r['last_status'] === null ? null : Number(r['last_status']),
    lastError: String(r['last_error']),
    createdTime: Number(r['created_time']),
    updatedTime: Number(r['updated_time']),
    version: Number(r['version']),
  };
}

function deliveryRow(d: Delivery) {
  return {
    delivery_id: d.id,
    subscription_id: d.subscriptionId,
    event: d.event,
    payload: d.payload,
    state: d.state,
    attempts: d.attempts,
    next_attempt_time: clickhouseTime(d.nextAttemptTime, 'next_attempt_time'),
    last_status: d.lastStatus,
    last_error: d.lastError,
    created_time: clickhouseTime(d.createdTime, 'created_time'),
    updated_time: clickhouseTime(d.updatedTime, 'updated_time'),
    version: d.version,
  };
}

/**
 * Subscriptions, deliveries and attempts in ClickHouse (migration 0007). Every change is a new
 * row with a higher version (ReplacingMergeTree), read back with FINAL; attempts are appended.
 * Inserts are acknowledged once written (`wait_end_of_query`), so a row the worker wrote is what
 * a restart reads.
 */
export class SubscriptionStore {
  constructor(
    private readonly store: Pick<Store, 'query' | 'insert'>,
    readonly tables: SubscriptionTables,
    /** Seals the signing secrets in the table (secret-box.ts). */
    private readonly box: SecretBox,
  ) {}

  async subscriptions(): Promise<StoredSubscription[]> {
    const rows = await this.store.query<Row>(
      `SELECT ${SUBSCRIPTION_SELECT} FROM ${this.tables.subscriptions} FINAL WHERE deleted = 0
       ORDER BY created_time, subscription_id`,
    );
    return rows.map((r) => subscriptionOf(r, this.box));
  }

  /** The subscription, deleted or not; undefined when it never existed. */
  async subscription(id: string): Promise<StoredSubscription | undefined> {
    const [row] = await this.store.query<Row>(
      `SELECT ${SUBSCRIPTION_SELECT} FROM ${this.tables.subscriptions} FINAL WHERE subscription_id = {id:String}`,
      { id },
    );
    return row === undefined ? undefined : subscriptionOf(row, this.box);
  }

  async saveSubscription(s: StoredSubscription): Promise<void> {
    await this.store.insert(this.tables.subscriptions, [
      {
        subscription_id: s.id,
        name: s.name,
        topic: s.filter.topic,
        filter: JSON.stringify(s.filter.filter),
        delivery_type: 'webhook',
        url: s.url,
        secret: this.box.seal(s.secret),
        max_attempts: s.maxAttempts ?? 0,
        deleted: s.deleted ? 1 : 0,
        created_time: clickhouseTime(s.createdTime, 'created_time'),
        updated_time: clickhouseTime(s.updatedTime, 'updated_time'),
        version: s.version,
      },
    ]);
  }

  async saveDeliveries(deliveries: readonly Delivery[]): Promise<void> {
    await this.store.insert(this.tables.deliveries, deliveries.map(deliveryRow));
  }

  /** Of `ids`, those a delivery row exists for (a Kafka batch read again after a crash). */
  async existingDeliveries(ids: readonly string[]): Promise<Set<string>> {
    const found = new Set<string>();
    for (const part of chunks(ids)) {
      const rows = await this.store.query<{ id: string }>(
        `SELECT DISTINCT toString(delivery_id) AS id FROM ${this.tables.deliveries}
         WHERE delivery_id IN {ids:Array(UUID)}`,
        { ids: part },
      );
      for (const r of rows) found.add(r.id);
    }
    return found;
  }

  async pendingDeliveries(): Promise<Delivery[]> {
    const rows = await this.store.query<Row>(
      `SELECT ${DELIVERY_SELECT} FROM ${this.tables.deliveries} FINAL WHERE state = 'PENDING'
       ORDER BY next_attempt_time`,
    );
    return rows.map(deliveryOf);
  }

  async delivery(subscriptionId: string, id: string): Promise<Delivery | undefined> {
    const [row] = await this.store.query<Row>(
      `SELECT ${DELIVERY_SELECT} FROM ${this.tables.deliveries} FINAL
       WHERE subscription_id = {s:String} AND delivery_id = {d:String}`,
      { s: subscriptionId, d: id },
    );
    return row === undefined ? undefined : deliveryOf(row);
  }

  /** A subscription's deliveries, newest first. */
  async deliveries(
    subscriptionId: string,
    state: DeliveryState | undefined,
    limit: number,
  ): Promise<Delivery[]> {
    const rows = await this.store.query<Row>(
      `SELECT ${DELIVERY_SELECT} FROM ${this.tables.deliveries} FINAL
       WHERE subscription_id = {s:String} ${state === undefined ? '' : 'AND state = {state:String}'}
       ORDER BY created_time DESC, delivery_id DESC LIMIT {limit:UInt32}`,
      { s: subscriptionId, limit, ...(state === undefined ? {} : { state }) },
    );
    return rows.map(deliveryOf);
  }

  /** The attempts of each delivery, in order. */
  async attempts(deliveryIds: readonly string[]): Promise<Map<string, Attempt[]>> {
    const out = new Map<string, Attempt[]>();
    const rows: Row[] = [];
    for (const part of chunks(deliveryIds))
      rows.push(
        ...(await this.store.query<Row>(
          `SELECT toString(delivery_id) AS delivery_id, toString(subscription_id) AS subscription_id, attempt,
                  toUnixTimestamp64Milli(attempted_time) AS attempted_time, status, error, duration_ms
           FROM ${this.tables.attempts} WHERE delivery_id IN {ids:Array(String)}
           ORDER BY attempted_time, attempt`,
          { ids: part },
        )),
      );
    for (const r of rows) {
      const a: Attempt = {
        deliveryId: String(r['delivery_id']),
        subscriptionId: String(r['subscription_id']),
        attempt: Number(r['attempt']),
        attemptedTime: Number(r['attempted_time']),
        status: r['status'] === null ? null : Number(r['status']),
        error: String(r['error']),
        durationMs: Number(r['duration_ms']),
      };
      const list = out.get(a.deliveryId) ?? [];
      list.push(a);
      out.set(a.deliveryId, list);
    }
    return out;
  }

  /** The attempt first, then the delivery's new state: a state is never newer than its attempts. */
  async recordAttempt(attempt: Attempt, delivery: Delivery): Promise<void> {
    await this.store.insert(this.tables.attempts, [
      {
        delivery_id: attempt.deliveryId,
        subscription_id: attempt.subscriptionId,
        attempt: attempt.attempt,
        attempted_time: clickhouseTime(attempt.attemptedTime, 'attempted_time'),
        status: attempt.status,
        error: attempt.error,
        duration_ms: attempt.durationMs,
      },
    ]);
    await this.saveDeliveries([delivery]);
  }
}
