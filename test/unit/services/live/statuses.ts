import type { Status } from '../../../../services/live/fleet-state.ts';
import type { TerminalStatus } from '../../../../services/shared/avro/types.generated.ts';

const T0 = Date.UTC(2026, 11, 3, 12, 0);

/** A TerminalStatus record of `serial` in fleet-state and hub tests. */
export function status(
  serial: string,
  s: Status,
  version: number,
  over: Partial<TerminalStatus> = {},
): TerminalStatus {
  return {
    terminal_serial: serial,
    merchant_id: 'M1',
    merchant_name: 'Shop',
    region: 'fr-paris',
    acquirer_id: 'ACQ-1',
    latitude: null,
    longitude: null,
    status: s,
    reasons: [],
    since: T0,
    last_seen_time: T0 + version,
    last_heartbeat_time: null,
    last_transaction_time: null,
    reported_online: null,
    battery_pct: null,
    paper_state: 'UNKNOWN',
    signal_strength_dbm: null,
    connection_type: 'UNKNOWN',
    offline_queue_length: null,
    firmware_version: null,
    app_version: null,
    recent_tx_count: 0,
    recent_decline_share: null,
    recent_timeout_share: null,
    version,
    updated_time: T0 + version,
    ...over,
  };
}
