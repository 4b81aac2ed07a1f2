import type { TerminalHeartbeat, TransactionEvent } from '../../services/shared/avro/types.generated.ts';

const BASE_TIME = Date.UTC(2026, 10, 1, 9, 0, 0);

function uuid(i: number, salt = 0): string {
  const hex = (i * 7919 + salt).toString(16).padStart(12, '0').slice(-12);
  return `6f1c${(salt % 0x10000).toString(16).padStart(4, '0')}-0000-4000-8000-${hex}`;
}

/** A varied but deterministic transaction: the i-th attempt of a small fleet. */
export function sampleTransaction(i: number, overrides: Partial<TransactionEvent> = {}): TransactionEvent {
  const declined = i % 9 === 0;
  const timedOut = i % 23 === 0;
  const requestTime = BASE_TIME + i * 137;
  return {
    event_id: uuid(i),
    terminal_serial: `TRM-${String(i % 20).padStart(5, '0')}`,
    merchant_id: `M${i % 5}`,
    merchant_name: ['Café Lumière', 'Hardware & Co', 'Kiosk 24', 'Bäckerei Süß', 'Fuel-Stop'][i % 5]!,
    acquirer_id: `ACQ${i % 2}`,
    gateway_id: 'gw-1',
    region: ['north', 'south', 'east'][i % 3]!,
    latitude: i % 4 === 0 ? null : 48.1 + (i % 10) / 100,
    longitude: i % 4 === 0 ? null : 11.5 - (i % 10) / 100,
    mcc: ['5812', '5251', '5499', '5462', '5541'][i % 5]!,
    cashier_id: i % 3 === 0 ? null : `C${i % 4}`,
    transaction_type: i % 17 === 0 ? 'REFUND' : 'SALE',
    payment_method: (['CREDIT', 'DEBIT', 'CONTACTLESS', 'EWALLET_QR', 'PREPAID'] as const)[i % 5]!,
    entry_mode: (['CHIP', 'CONTACTLESS', 'SWIPE', 'MANUAL', 'FALLBACK'] as const)[i % 5]!,
    amount_minor: 100 + ((i * 3571) % 250_000),
    currency: i % 6 === 0 ? 'USD' : 'EUR',
    card_token: `${(i * 2654435761).toString(16).padStart(16, '0')}`.repeat(4).slice(0, 64),
    card_token_key_id: 'k1',
    card_bin: '411111',
    card_last4: String(1000 + (i % 9000)),
    response_code: timedOut ? null : declined ? '05' : '00',
    response_message: timedOut ? null : declined ? 'Do not honour' : 'Approved',
    auth_code: timedOut || declined ? null : String(100000 + i).slice(-6),
    status: timedOut ? 'TIMEOUT' : declined ? 'DECLINED' : 'APPROVED',
    request_time: requestTime,
    response_time: timedOut ? null : requestTime + 80 + (i % 400),
    stan: String(i % 1_000_000).padStart(6, '0'),
    rrn: i % 2 === 0 ? `6${String(i).padStart(11, '0')}` : null,
    ingest_channel: i % 2 === 0 ? 'HTTP' : 'ISO8583',
    gateway_received_time: requestTime + 1000,
    basket:
      i % 4 === 1
        ? {
            item_count: 2,
            items: [
              { sku: 'SKU-1', quantity: 1, unit_price_minor: 250 },
              { sku: 'SKU-2', quantity: 3, unit_price_minor: 99 },
            ],
            discount_minor: 50,
            coupon_codes: i % 8 === 1 ? ['WELCOME10'] : [],
          }
        : null,
    ...overrides,
  };
}

export function sampleHeartbeat(i: number, overrides: Partial<TerminalHeartbeat> = {}): TerminalHeartbeat {
  return {
    event_id: uuid(i, 1),
    terminal_serial: `TRM-${String(i % 20).padStart(5, '0')}`,
    merchant_id: `M${i % 5}`,
    gateway_id: 'gw-1',
    event_time: BASE_TIME + i * 30_000,
    online: i % 11 !== 0,
    firmware_version: '4.2.1',
    app_version: '2.9.0',
    battery_pct: i % 3 === 0 ? null : 100 - (i % 100),
    paper_state: (['OK', 'LOW', 'OUT', 'NOT_APPLICABLE'] as const)[i % 4]!,
    signal_strength_dbm: i % 2 === 0 ? -60 - (i % 40) : null,
    connection_type: (['ETHERNET', 'WIFI', 'CELLULAR_4G'] as const)[i % 3]!,
    last_error_code: i % 7 === 0 ? 'E42' : null,
    offline_queue_length: i % 5,
    ingest_channel: 'HTTP',
    gateway_received_time: BASE_TIME + i * 30_000 + 20,
    ...overrides,
  };
}

/** The i-th sample transaction requested at `t` (its host latency kept), received `receivedAt`. */
export function transactionAt(
  i: number,
  t: number,
  receivedAt = t + 300,
  overrides: Partial<TransactionEvent> = {},
): TransactionEvent {
  const ev = sampleTransaction(i);
  const latency = ev.response_time === null ? null : ev.response_time - ev.request_time;
  return {
    ...ev,
    request_time: t,
    response_time: latency === null ? null : t + latency,
    gateway_received_time: receivedAt,
    ...overrides,
  };
}
