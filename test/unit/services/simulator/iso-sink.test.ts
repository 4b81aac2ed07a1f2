import { describe, expect, it } from 'vitest';
import { decodeMessage, encodeMessage } from '../../../../services/gateway/iso8583/codec.ts';
import { networkManagement, toTransactionFields } from '../../../../services/gateway/iso8583/mapping.ts';
import type { SimHeartbeat, SimTransaction } from '../../../../services/simulator/events.ts';
import { isoEcho, isoRequest, isoResponse } from '../../../../services/simulator/iso-sink.ts';
import { Simulator } from '../../../../services/simulator/simulator.ts';

const START = Date.UTC(2026, 2, 3, 10);

describe('ISO 8583 messages of the simulator', { timeout: 30_000 }, () => {
  const events = [
    ...new Simulator({
      seed: 'iso',
      fleet: { terminals: 40, regions: 8 },
      rate: 10,
      start: START,
      end: START + 300_000,
    }).events(),
  ];
  const txs = events.filter((e): e is SimTransaction => e.kind === 'transaction');

  it('read back through the gateway’s own mapping as the transaction they came from', () => {
    const types = new Set<string>();
    for (const ev of txs) {
      const f = ev.fields;
      // Through the wire format, both bitmap encodings.
      const request = decodeMessage(encodeMessage(isoRequest(f), { bitmap: 'hex' }), { bitmap: 'hex' });
      const responseMsg = isoResponse(f);
      const response = responseMsg === undefined ? undefined : decodeMessage(encodeMessage(responseMsg));
      const mapped = toTransactionFields(request, response, {
        requestTime: f.request_time,
        ...(f.response_time === null ? {} : { responseTime: f.response_time }),
      });
      types.add(f.transaction_type);
      expect(mapped.pan).toBe(f.pan);
      expect(mapped.fields).toMatchObject({
        terminal_serial: f.terminal_serial,
        merchant_id: f.merchant_id,
        mcc: f.mcc,
        currency: f.currency,
        amount_minor: f.amount_minor,
        status: f.status,
        response_code: f.response_code,
        auth_code: f.auth_code,
        stan: f.stan,
        rrn: f.rrn,
        request_time: f.request_time,
        response_time: f.response_time,
        entry_mode: f.entry_mode,
        transaction_type: f.transaction_type === 'COMPLETION' ? 'SALE' : f.transaction_type,
        payment_method:
          f.payment_method === 'CREDIT' || f.payment_method === 'DEBIT' ? f.payment_method : 'UNKNOWN',
      });
    }
    expect(types.has('SALE') && types.has('REFUND')).toBe(true);
  });

  it('sends an echo test for a heartbeat, which the gateway answers', () => {
    const hb = events.find((e): e is SimHeartbeat => e.kind === 'heartbeat')!;
    const echo = decodeMessage(encodeMessage(isoEcho(hb.fields, '000042')));
    const nm = networkManagement(echo);
    expect(nm).toMatchObject({ kind: 'ECHO_TEST', heartbeat: true });
    expect(nm.response.fields.get(41)).toBe(hb.fields.terminal_serial.padEnd(8));
  });

  it('answers nothing for a timeout', () => {
    const timeout = txs.find((e) => e.fields.status === 'TIMEOUT');
    expect(timeout).toBeDefined();
    expect(isoResponse(timeout!.fields)).toBeUndefined();
  });
});
