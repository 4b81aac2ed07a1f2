import type {
  ConnectionType,
  PaperState,
  TerminalState,
  TerminalStatus,
} from '../../shared/avro/types.generated.ts';
import { clickhouseTime } from '../../shared/clickhouse/rows.ts';
import { ValidationError } from '../../shared/errors.ts';

/**
 * Rows of `terminal_status` (infra/clickhouse/migrations/0003_terminal_status.sql) from
 * TerminalStatus records, for `Store.insert` (JSONEachRow), and back. Column names are the Avro
 * field names; only the timestamps differ (DateTime64 text). `ingested_at` is left to the server.
 * Insert into `terminal_status` only: a materialized view copies each row to
 * `terminal_status_latest`.
 */

type TimeField =
  'since' | 'last_seen_time' | 'last_heartbeat_time' | 'last_transaction_time' | 'updated_time';

export type TerminalStatusRow = Omit<TerminalStatus, TimeField> & {
  [P in TimeField]: null extends TerminalStatus[P] ? string | null : string;
};

/** The columns to SELECT to read records back with {@link terminalStatusFromRow}. */
export const TERMINAL_STATUS_COLUMNS = [
  'terminal_serial',
  'merchant_id',
  'merchant_name',
  'region',
  'acquirer_id',
  'latitude',
  'longitude',
  'status',
  'reasons',
  'since',
  'last_seen_time',
  'last_heartbeat_time',
  'last_transaction_time',
  'reported_online',
  'battery_pct',
  'paper_state',
  'signal_strength_dbm',
  'connection_type',
  'offline_queue_length',
  'firmware_version',
  'app_version',
  'recent_tx_count',
  'recent_decline_share',
  'recent_timeout_share',
  'version',
  'updated_time',
] as const satisfies readonly (keyof TerminalStatus)[];

export function terminalStatusRow(r: TerminalStatus): TerminalStatusRow {
  const optionalTime = (ms: number | null, path: string): string | null =>
    ms === null ? null : clickhouseTime(ms, path);
  return {
    ...r,
    reasons: [...r.reasons],
    since: clickhouseTime(r.since, 'since'),
    last_seen_time: clickhouseTime(r.last_seen_time, 'last_seen_time'),
    last_heartbeat_time: optionalTime(r.last_heartbeat_time, 'last_heartbeat_time'),
    last_transaction_time: optionalTime(r.last_transaction_time, 'last_transaction_time'),
    updated_time: clickhouseTime(r.updated_time, 'updated_time'),
  };
}

const TIME_TEXT = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,9})?$/;

function fail(path: string, expected: string): never {
  throw new ValidationError(`terminal_status row: ${path} is not ${expected}`, path);
}

function text(row: Record<string, unknown>, key: string): string {
  const v = row[key];
  return typeof v === 'string' ? v : fail(key, 'a string');
}

function optionalText(row: Record<string, unknown>, key: string): string | null {
  return row[key] === null ? null : text(row, key);
}

/** Int32/Float64 come as JSON numbers, (U)Int64 as strings (output_format_json_quote_64bit_integers). */
function num(row: Record<string, unknown>, key: string): number {
  const v = row[key];
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  return Number.isFinite(n) ? n : fail(key, 'a number');
}

function optionalNum(row: Record<string, unknown>, key: string): number | null {
  return row[key] === null ? null : num(row, key);
}

const STATES: readonly TerminalState[] = ['ONLINE', 'DEGRADED', 'OFFLINE', 'UNKNOWN'];
const PAPER: readonly PaperState[] = ['OK', 'LOW', 'OUT', 'NOT_APPLICABLE', 'UNKNOWN'];
const CONNECTIONS: readonly ConnectionType[] = [
  'ETHERNET',
  'WIFI',
  'CELLULAR_2G',
  'CELLULAR_3G',
  'CELLULAR_4G',
  'CELLULAR_5G',
  'BLUETOOTH',
  'UNKNOWN',
];

/** An enum column; a symbol this build does not know reads as UNKNOWN, as the Avro codec does. */
function symbol<T extends string>(
  row: Record<string, unknown>,
  key: string,
  symbols: readonly T[],
  unknown: T,
): T {
  const v = text(row, key);
  return symbols.find((s) => s === v) ?? unknown;
}

function time(row: Record<string, unknown>, key: string): number {
  const v = text(row, key);
  if (!TIME_TEXT.test(v)) fail(key, 'a DateTime64 text');
  const ms = Date.parse(`${v.slice(0, 23).replace(' ', 'T')}Z`);
  return Number.isFinite(ms) ? ms : fail(key, 'a DateTime64 text');
}

function optionalTime(row: Record<string, unknown>, key: string): number | null {
  return row[key] === null ? null : time(row, key);
}

/**
 * A record from one row of `terminal_status` or `terminal_status_latest` as JSONEachRow returns it
 * (the {@link TERMINAL_STATUS_COLUMNS}), e.g. to {@link TerminalStatusTracker.restore} from
 * ClickHouse. An enum symbol this build does not know reads as UNKNOWN.
 *
 * @throws ValidationError naming the first column of the wrong shape
 */
export function terminalStatusFromRow(row: Record<string, unknown>): TerminalStatus {
  const reasons = row['reasons'];
  if (!Array.isArray(reasons) || !reasons.every((r) => typeof r === 'string')) {
    fail('reasons', 'an array of strings');
  }
  const online = row['reported_online'];
  if (online !== null && typeof online !== 'boolean') fail('reported_online', 'a boolean or null');
  return {
    terminal_serial: text(row, 'terminal_serial'),
    merchant_id: optionalText(row, 'merchant_id'),
    merchant_name: optionalText(row, 'merchant_name'),
    region: optionalText(row, 'region'),
    acquirer_id: optionalText(row, 'acquirer_id'),
    latitude: optionalNum(row, 'latitude'),
    longitude: optionalNum(row, 'longitude'),
    status: symbol(row, 'status', STATES, 'UNKNOWN'),
    reasons: [...(reasons as string[])],
    since: time(row, 'since'),
    last_seen_time: time(row, 'last_seen_time'),
    last_heartbeat_time: optionalTime(row, 'last_heartbeat_time'),
    last_transaction_time: optionalTime(row, 'last_transaction_time'),
    reported_online: online as boolean | null,
    battery_pct: optionalNum(row, 'battery_pct'),
    paper_state: symbol(row, 'paper_state', PAPER, 'UNKNOWN'),
    signal_strength_dbm: optionalNum(row, 'signal_strength_dbm'),
    connection_type: symbol(row, 'connection_type', CONNECTIONS, 'UNKNOWN'),
    offline_queue_length: optionalNum(row, 'offline_queue_length'),
    firmware_version: optionalText(row, 'firmware_version'),
    app_version: optionalText(row, 'app_version'),
    recent_tx_count: num(row, 'recent_tx_count'),
    recent_decline_share: optionalNum(row, 'recent_decline_share'),
    recent_timeout_share: optionalNum(row, 'recent_timeout_share'),
    version: num(row, 'version'),
    updated_time: time(row, 'updated_time'),
  };
}
