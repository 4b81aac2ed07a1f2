import { describe, expect, it } from 'vitest';
import type { TerminalStatus } from '../../../../../services/shared/avro/types.generated.ts';
import { ErrorCodes } from '../../../../../services/shared/errors.ts';
import {
  TERMINAL_STATUS_COLUMNS,
  terminalStatusFromRow,
  terminalStatusRow,
} from '../../../../../services/processor/status/rows.ts';

const T0 = Date.UTC(2026, 10, 1, 9, 0, 0);

const record: TerminalStatus = {
  terminal_serial: 'TRM-1',
  merchant_id: 'M1',
  merchant_name: 'Kiosk 24',
  region: 'north',
  acquirer_id: 'ACQ1',
  latitude: 48.137,
  longitude: 11.575,
  status: 'DEGRADED',
  reasons: ['low_battery', 'high_decline_rate'],
  since: T0,
  last_seen_time: T0 + 1234,
  last_heartbeat_time: T0 - 5,
  last_transaction_time: null,
  reported_online: true,
  battery_pct: 9,
  paper_state: 'OK',
  signal_strength_dbm: -71,
  connection_type: 'CELLULAR_4G',
  offline_queue_length: 0,
  firmware_version: '4.2.1',
  app_version: '2.9.0',
  recent_tx_count: 12,
  recent_decline_share: 7 / 12,
  recent_timeout_share: 0,
  version: T0 + 2000,
  updated_time: T0 + 2000,
};

describe('terminal_status rows', () => {
  it('writes timestamps as DateTime64 text and keeps every other field as it is', () => {
    const row = terminalStatusRow(record);
    expect(row).toEqual({
      ...record,
      since: '2026-11-01 09:00:00.000',
      last_seen_time: '2026-11-01 09:00:01.234',
      last_heartbeat_time: '2026-11-01 08:59:59.995',
      last_transaction_time: null,
      updated_time: '2026-11-01 09:00:02.000',
    });
    expect(Object.keys(row)).toEqual([...TERMINAL_STATUS_COLUMNS]);
  });

  it('reads back a row as JSONEachRow returns it (64-bit integers quoted) into the same record', () => {
    const row = { ...terminalStatusRow(record), version: String(record.version) };
    expect(terminalStatusFromRow(JSON.parse(JSON.stringify(row)) as Record<string, unknown>)).toEqual(record);
  });

  it('reads an enum symbol it does not know as UNKNOWN', () => {
    const row = { ...terminalStatusRow(record), status: 'MAINTENANCE', connection_type: 'SATELLITE' };
    expect(terminalStatusFromRow(row)).toMatchObject({ status: 'UNKNOWN', connection_type: 'UNKNOWN' });
  });

  it('names the column of a malformed row', () => {
    expect(() => terminalStatusFromRow({ ...terminalStatusRow(record), since: 1 })).toThrow(
      expect.objectContaining({ code: ErrorCodes.VALIDATION, path: 'since' }),
    );
    expect(() => terminalStatusFromRow({ ...terminalStatusRow(record), reasons: 'x' })).toThrow(/reasons/);
    expect(() => terminalStatusFromRow({ ...terminalStatusRow(record), version: 'n/a' })).toThrow(/version/);
  });

  it('refuses a timestamp outside the DateTime64 range', () => {
    expect(() => terminalStatusRow({ ...record, since: -1e15 })).toThrow(/since=/);
  });
});
