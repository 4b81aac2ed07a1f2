import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Iso8583Error, ValidationError } from '../../../../../services/shared/errors.ts';
import {
  decodeMessage,
  encodeMessage,
  type Iso8583Message,
} from '../../../../../services/gateway/iso8583/codec.ts';
import {
  CURRENCY_ALPHA,
  describeForLog,
  networkManagement,
  requestKey,
  requestMtiFor,
  responseMtiFor,
  toTransactionFields,
} from '../../../../../services/gateway/iso8583/mapping.ts';

const PAN = '4000123456789010';
const TRACK2 = `${PAN}=29122011234567890`;
const TRACK1 = `B${PAN}^DOE/JANE^2912201123400000000`;
const PIN_BLOCK = Buffer.from('A1B2C3D4E5F60718', 'hex');
const EMV = Buffer.from('9F2608C1D2E3F4A5B6C7D89F2701809F10120110A00003220000000000000000000000FF', 'hex');
const ACCEPTOR = 'CAFE DU COIN'.padEnd(23) + 'PARIS'.padEnd(13) + '75' + 'FR';

const T0 = 1_750_000_000_000;

function message(mti: string, fields: Record<number, string | Buffer>): Iso8583Message {
  return { mti, fields: new Map(Object.entries(fields).map(([k, v]) => [Number(k), v])) };
}

function sale(overrides: Record<number, string | Buffer | undefined> = {}, mti = '0200'): Iso8583Message {
  const base: Record<number, string | Buffer | undefined> = {
    2: PAN,
    3: '000000',
    4: '000000001999',
    7: '0614123456',
    11: '000321',
    12: '143456',
    13: '0614',
    14: '2912',
    18: '5812',
    22: '051',
    25: '00',
    32: '12345678',
    35: TRACK2,
    41: 'TERM0001',
    42: 'MERCHANT0000042',
    43: ACCEPTOR,
    45: TRACK1,
    49: '978',
    52: PIN_BLOCK,
    55: EMV,
    ...overrides,
  };
  const fields = new Map<number, string | Buffer>();
  for (const [k, v] of Object.entries(base)) if (v !== undefined) fields.set(Number(k), v);
  return { mti, fields };
}

function answer(request: Iso8583Message, fields: Record<number, string>): Iso8583Message {
  const copied: Record<number, string | Buffer> = {};
  for (const n of [3, 4, 7, 11, 41, 42, 49]) {
    const v = request.fields.get(n);
    if (v !== undefined) copied[n] = v;
  }
  return message(responseMtiFor(request.mti)!, { ...copied, ...fields });
}

describe('ISO 8583 MTI pairing', () => {
  it.each([
    ['0100', '0110'],
    ['0101', '0110'],
    ['0200', '0210'],
    ['0201', '0210'],
    ['0400', '0410'],
    ['0401', '0410'],
    ['0800', '0810'],
    ['0801', '0810'],
  ])('answers %s with %s', (request, response) => {
    expect(responseMtiFor(request)).toBe(response);
  });

  it.each(['0110', '0210', '0220', '0120', '9999'])('has no response MTI for %s', (mti) => {
    expect(responseMtiFor(mti)).toBeUndefined();
  });

  it.each([
    ['0110', '0100'],
    ['0210', '0200'],
    ['0410', '0400'],
    ['0810', '0800'],
  ])('knows %s answers %s', (response, request) => {
    expect(requestMtiFor(response)).toBe(request);
  });
});

describe('ISO 8583 pairing keys', () => {
  it('gives a request and its response the same terminal+STAN key', () => {
    const req = sale();
    const res = answer(req, { 37: '416512345678', 39: '00' });
    expect(requestKey(req).byStan).toBe('02:TERM0001:000321');
    expect(requestKey(res).byStan).toBe(requestKey(req).byStan);
  });

  it('keys by RRN when field 37 is present, and not otherwise', () => {
    expect(requestKey(sale()).byRrn).toBeUndefined();
    const reversal = sale({ 37: '416512345678' }, '0400');
    expect(requestKey(reversal).byRrn).toBe('04:416512345678');
    expect(requestKey(message('0410', { 37: '416512345678', 39: '00' }))).toEqual({
      byStan: undefined,
      byRrn: '04:416512345678',
    });
  });

  it('keeps a reversal that reuses the STAN apart from the pending sale', () => {
    expect(requestKey(sale({}, '0400')).byStan).not.toBe(requestKey(sale()).byStan);
  });

  it('has no terminal+STAN key without field 41 or field 11', () => {
    expect(requestKey(sale({ 41: undefined })).byStan).toBeUndefined();
    expect(requestKey(sale({ 11: undefined })).byStan).toBeUndefined();
  });
});

describe('ISO 8583 → TransactionEvent fields', () => {
  it('maps an approved chip sale completely, with host latency', () => {
    const req = sale();
    const res = answer(req, { 37: '416512345678', 38: 'A1B2C3', 39: '00' });
    const out = toTransactionFields(req, res, { requestTime: T0, responseTime: T0 + 245 });
    expect(out).toEqual({
      fields: {
        terminal_serial: 'TERM0001',
        merchant_id: 'MERCHANT0000042',
        merchant_name: 'CAFE DU COIN',
        mcc: '5812',
        acquirer_id: '12345678',
        transaction_type: 'SALE',
        payment_method: 'UNKNOWN',
        entry_mode: 'CHIP',
        amount_minor: 1999,
        currency: 'EUR',
        response_code: '00',
        auth_code: 'A1B2C3',
        status: 'APPROVED',
        request_time: T0,
        response_time: T0 + 245,
        stan: '000321',
        rrn: '416512345678',
        ingest_channel: 'ISO8583',
      },
      pan: PAN,
      location: { city: 'PARIS', state: '75', country: 'FR' },
      hostLatencyMs: 245,
    });
  });

  it('turns a request without a response into a TIMEOUT with no response fields', () => {
    const out = toTransactionFields(sale(), undefined, { requestTime: T0, responseTime: T0 + 30_000 });
    expect(out.fields.status).toBe('TIMEOUT');
    expect(out.fields.response_code).toBeNull();
    expect(out.fields.auth_code).toBeNull();
    expect(out.fields.response_time).toBeNull();
    expect(out.fields.rrn).toBeNull();
    expect(out.hostLatencyMs).toBeNull();
  });

  it.each([
    ['0200', '000000', 'SALE'],
    ['0200', '090000', 'SALE'],
    ['0200', '020000', 'VOID'],
    ['0200', '200000', 'REFUND'],
    ['0200', '300000', 'BALANCE_INQUIRY'],
    ['0200', '310000', 'BALANCE_INQUIRY'],
    ['0200', '010000', 'UNKNOWN'],
    ['0200', '500000', 'UNKNOWN'],
    ['0201', '000000', 'SALE'],
    ['0100', '000000', 'PRE_AUTH'],
    ['0100', '310000', 'BALANCE_INQUIRY'],
    ['0101', '000000', 'PRE_AUTH'],
    ['0400', '000000', 'REVERSAL'],
    ['0400', '200000', 'REVERSAL'],
    ['0401', '000000', 'REVERSAL'],
  ])('maps MTI %s with processing code %s to %s', (mti, code, type) => {
    const out = toTransactionFields(sale({ 3: code }, mti), undefined, { requestTime: T0 });
    expect(out.fields.transaction_type).toBe(type);
  });

  it('maps a financial request without a processing code to UNKNOWN', () => {
    expect(
      toTransactionFields(sale({ 3: undefined }), undefined, { requestTime: T0 }).fields.transaction_type,
    ).toBe('UNKNOWN');
  });

  it.each([
    ['000000', 'UNKNOWN'],
    ['001000', 'DEBIT'],
    ['002000', 'DEBIT'],
    ['003000', 'CREDIT'],
    ['004000', 'UNKNOWN'],
  ])('maps processing code %s (from-account type) to payment method %s', (code, method) => {
    expect(toTransactionFields(sale({ 3: code }), undefined, { requestTime: T0 }).fields.payment_method).toBe(
      method,
    );
  });

  it.each([
    ['051', 'CHIP'],
    ['951', 'CHIP'],
    ['071', 'CONTACTLESS'],
    ['911', 'CONTACTLESS'],
    ['901', 'SWIPE'],
    ['021', 'SWIPE'],
    ['011', 'MANUAL'],
    ['801', 'FALLBACK'],
    ['000', 'UNKNOWN'],
    ['812', 'UNKNOWN'],
  ])('maps POS entry mode %s to %s', (mode, entry) => {
    expect(toTransactionFields(sale({ 22: mode }), undefined, { requestTime: T0 }).fields.entry_mode).toBe(
      entry,
    );
  });

  it('maps a missing POS entry mode to UNKNOWN', () => {
    expect(
      toTransactionFields(sale({ 22: undefined }), undefined, { requestTime: T0 }).fields.entry_mode,
    ).toBe('UNKNOWN');
  });

  it.each([
    ['00', 'APPROVED'],
    ['10', 'APPROVED'],
    ['11', 'APPROVED'],
    ['05', 'DECLINED'],
    ['51', 'DECLINED'],
    ['55', 'DECLINED'],
    ['91', 'DECLINED'],
    ['96', 'DECLINED'],
  ])('maps response code %s to %s and keeps the code', (code, status) => {
    const req = sale();
    const out = toTransactionFields(req, answer(req, { 39: code }), {
      requestTime: T0,
      responseTime: T0 + 1,
    });
    expect(out.fields.status).toBe(status);
    expect(out.fields.response_code).toBe(code);
  });

  it('calls a response without field 39 UNKNOWN', () => {
    const req = sale();
    const out = toTransactionFields(req, answer(req, {}), { requestTime: T0, responseTime: T0 + 1 });
    expect(out.fields.status).toBe('UNKNOWN');
    expect(out.fields.response_code).toBeNull();
  });

  it('maps an approved reversal with its original RRN as REVERSAL / APPROVED', () => {
    const req = sale({ 37: '416512345678', 38: undefined }, '0400');
    const out = toTransactionFields(req, answer(req, { 39: '00' }), {
      requestTime: T0,
      responseTime: T0 + 80,
    });
    expect(out.fields).toMatchObject({
      transaction_type: 'REVERSAL',
      status: 'APPROVED',
      rrn: '416512345678',
    });
  });

  it('treats an all-space auth code as none', () => {
    const req = sale();
    const out = toTransactionFields(req, answer(req, { 38: '      ', 39: '05' }), {
      requestTime: T0,
      responseTime: T0 + 1,
    });
    expect(out.fields.auth_code).toBeNull();
  });

  it.each([
    ['978', 'EUR'],
    ['840', 'USD'],
    ['826', 'GBP'],
    ['756', 'CHF'],
    ['752', 'SEK'],
    ['578', 'NOK'],
    ['208', 'DKK'],
    ['985', 'PLN'],
    ['203', 'CZK'],
    ['348', 'HUF'],
    ['946', 'RON'],
    ['124', 'CAD'],
    ['036', 'AUD'],
    ['392', 'JPY'],
    ['156', 'CNY'],
    ['356', 'INR'],
    ['986', 'BRL'],
    ['484', 'MXN'],
    ['710', 'ZAR'],
    ['949', 'TRY'],
  ])('maps currency %s to %s', (numeric, alpha) => {
    expect(toTransactionFields(sale({ 49: numeric }), undefined, { requestTime: T0 }).fields.currency).toBe(
      alpha,
    );
  });

  it('has one alphabetic code per numeric code, all three capital letters', () => {
    const alphas = [...CURRENCY_ALPHA.values()];
    expect(new Set(alphas).size).toBe(alphas.length);
    for (const [numeric, alpha] of CURRENCY_ALPHA) {
      expect(numeric).toMatch(/^[0-9]{3}$/);
      expect(alpha).toMatch(/^[A-Z]{3}$/);
    }
  });

  it('refuses an unknown currency code with a mapping error on field 49', () => {
    let err: unknown;
    try {
      toTransactionFields(sale({ 49: '999' }), undefined, { requestTime: T0 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(Iso8583Error);
    expect(err).toMatchObject({ reason: 'UNKNOWN_CURRENCY', field: 49, closeConnection: false });
  });

  it('leaves out the keys the message does not carry, so the gateway defaults survive a spread', () => {
    const bare = message('0200', { 3: '000000', 4: '000000000100', 11: '000001', 41: 'T1      ' });
    const out = toTransactionFields(bare, undefined, { requestTime: T0 });
    for (const key of ['merchant_id', 'merchant_name', 'mcc', 'acquirer_id', 'currency']) {
      expect(out.fields).not.toHaveProperty(key);
    }
    expect(out.fields.terminal_serial).toBe('T1');
    expect(out.pan).toBeNull();
    expect(out.location).toBeNull();
    expect({ merchant_id: 'from-registry', ...out.fields }.merchant_id).toBe('from-registry');
  });

  it('takes the amount as 0 when field 4 is absent (a balance inquiry)', () => {
    const out = toTransactionFields(sale({ 3: '310000', 4: undefined }), undefined, { requestTime: T0 });
    expect(out.fields.amount_minor).toBe(0);
  });

  it('takes the PAN from track 2 when field 2 is absent, else from track 1', () => {
    expect(toTransactionFields(sale({ 2: undefined }), undefined, { requestTime: T0 }).pan).toBe(PAN);
    expect(
      toTransactionFields(sale({ 2: undefined, 35: undefined }), undefined, { requestTime: T0 }).pan,
    ).toBe(PAN);
    expect(
      toTransactionFields(sale({ 2: undefined, 35: undefined, 45: undefined }), undefined, {
        requestTime: T0,
      }).pan,
    ).toBeNull();
  });

  it('refuses a network management message, a wrong response MTI, a missing terminal id, and a response without its time', () => {
    const cases: [() => unknown, string, number | undefined][] = [
      [
        () => toTransactionFields(message('0800', { 41: 'TERM0001' }), undefined, { requestTime: T0 }),
        'UNSUPPORTED_MTI',
        0,
      ],
      [
        () => toTransactionFields(message('0210', { 41: 'TERM0001' }), undefined, { requestTime: T0 }),
        'UNSUPPORTED_MTI',
        0,
      ],
      [
        () =>
          toTransactionFields(sale(), message('0410', { 39: '00' }), { requestTime: T0, responseTime: T0 }),
        'MISMATCHED_RESPONSE',
        0,
      ],
      [
        () => toTransactionFields(sale({ 41: undefined }), undefined, { requestTime: T0 }),
        'MISSING_FIELD',
        41,
      ],
      [
        () => toTransactionFields(sale({ 41: '        ' }), undefined, { requestTime: T0 }),
        'MISSING_FIELD',
        41,
      ],
    ];
    for (const [fn, reason, field] of cases) {
      expect(fn).toThrow(Iso8583Error);
      try {
        fn();
      } catch (err) {
        expect(err).toMatchObject({ reason, field });
      }
    }
    expect(() => toTransactionFields(sale(), answer(sale(), { 39: '00' }), { requestTime: T0 })).toThrow(
      ValidationError,
    );
  });
});

describe('ISO 8583 card data never leaves the mapping', () => {
  const secrets = [PAN, TRACK2, TRACK1, 'DOE/JANE', PIN_BLOCK.toString('hex'), EMV.toString('hex'), '=2912'];

  function mappedWithoutPan(req: Iso8583Message, res: Iso8583Message | undefined): string {
    const { pan: _pan, ...rest } = toTransactionFields(req, res, { requestTime: T0, responseTime: T0 + 5 });
    return JSON.stringify(rest);
  }

  it('keeps PAN, tracks, expiry, PIN block and EMV data out of everything but `pan`', () => {
    const req = sale();
    // A host that echoes card data in its response must not leak it either.
    const res = answer(req, { 2: PAN, 35: TRACK2, 39: '00' } as Record<number, string>);
    const out = mappedWithoutPan(req, res);
    for (const s of secrets) expect(out.toUpperCase()).not.toContain(s.toUpperCase());
  });

  it('never puts any PAN in the mapped fields, whatever the card and entry mode', () => {
    const panArb = fc.stringMatching(/^[3-6][0-9]{12,18}$/);
    fc.assert(
      fc.property(panArb, fc.constantFrom('051', '071', '901', '011', '801'), (pan, mode) => {
        const req = sale({ 2: pan, 22: mode, 35: `${pan}=29121010000000000`, 45: `B${pan}^X/Y^2912101` });
        expect(mappedWithoutPan(req, answer(req, { 39: '00' }))).not.toContain(pan);
        expect(toTransactionFields(req, undefined, { requestTime: T0 }).pan).toBe(pan);
      }),
      { numRuns: 300 },
    );
  });

  it('shows only the last four digits of the PAN and the size of other card data in a log view', () => {
    const view = JSON.stringify(describeForLog(sale()));
    for (const s of secrets) expect(view.toUpperCase()).not.toContain(s.toUpperCase());
    expect(view).toContain('9010');
    expect(describeForLog(sale()).fields['52']).toBe('[8 bytes]');
    expect(describeForLog(sale()).fields['3']).toBe('000000');
  });
});

describe('ISO 8583 network management', () => {
  const echo = message('0800', { 7: '0614123456', 11: '000042', 41: 'TERM0001', 70: '301' });

  it('answers an echo test with an 0810 that echoes 7, 11, 41 and 70 and approves with 00, and counts it as a heartbeat', () => {
    const nm = networkManagement(echo);
    expect(nm.kind).toBe('ECHO_TEST');
    expect(nm.heartbeat).toBe(true);
    expect(nm.code).toBe('301');
    expect(nm.response).toEqual(
      message('0810', { 7: '0614123456', 11: '000042', 39: '00', 41: 'TERM0001', 70: '301' }),
    );
  });

  it.each([
    ['001', 'SIGN_ON'],
    ['002', 'SIGN_OFF'],
    ['161', 'OTHER'],
  ])('reads field 70 code %s as %s, which is not a heartbeat', (code, kind) => {
    const nm = networkManagement(message('0800', { 7: '0614123456', 11: '000042', 70: code }));
    expect(nm.kind).toBe(kind);
    expect(nm.heartbeat).toBe(false);
    expect(nm.response.fields.get(39)).toBe('00');
  });

  it('answers an 0800 without field 70 with an 0810 without it', () => {
    const nm = networkManagement(message('0800', { 11: '000001' }));
    expect(nm).toMatchObject({ kind: 'OTHER', code: null, heartbeat: false });
    expect([...nm.response.fields.keys()].sort((a, b) => a - b)).toEqual([11, 39]);
  });

  it('builds a response the codec can write and read back', () => {
    const { response } = networkManagement(decodeMessage(encodeMessage(echo)));
    expect(decodeMessage(encodeMessage(response))).toEqual(response);
  });

  it('refuses anything but an 0800 or 0801', () => {
    expect(() => networkManagement(sale())).toThrow(Iso8583Error);
    expect(networkManagement({ ...echo, mti: '0801' }).response.mti).toBe('0810');
  });
});
