import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  decodeMessage,
  encodeMessage,
  type Iso8583Message,
} from '../../../../services/gateway/iso8583/codec.ts';
import { frame, FrameSplitter } from '../../../../services/gateway/iso8583/framing.ts';
import { startTestGateway, type TestGateway } from '../../support/gateway.ts';
import { describeKafka, kafkaBrokers, readTopic } from '../../support/kafka.ts';
import { transactionInput } from '../../../support/gateway-input.ts';

/** Luhn-valid test PANs, each used once, so a hit names the door it leaked through. */
const PANS = {
  httpAccepted: '4000056655665556',
  httpTrack: '5555555555554444',
  httpRejected: '378282246310005',
  httpInText: '6011111111111117',
  isoField2: '4242424242424242',
  isoTrack2: '5200828282828210',
  isoBroken: '4000002760003184',
};

function message(mti: string, fields: Record<number, string | Buffer>): Iso8583Message {
  return { mti, fields: new Map(Object.entries(fields).map(([k, v]) => [Number(k), v])) };
}

function msg(mti: string, fields: Record<number, string | Buffer>): Buffer {
  return frame(encodeMessage(message(mti, fields)));
}

function isoSale(stan: string, card: Record<number, string | Buffer>): Record<number, string | Buffer> {
  return {
    ...card,
    3: '000000',
    4: '000000004200',
    7: '1122093000',
    11: stan,
    12: '093000',
    13: '1122',
    22: '051',
    41: 'TRMISO01',
    42: 'M1'.padEnd(15),
    43: 'LEAK TEST SHOP'.padEnd(23) + 'BERLIN'.padEnd(13) + 'BE' + 'DE',
    49: '978',
    52: Buffer.from('0123456789ABCDEF', 'hex'),
  };
}

/** Digits of every PAN and the ASCII of the same, plus forms a careless encoder could produce. */
function forms(pan: string): string[] {
  return [
    pan,
    pan.split('').join(' '),
    Buffer.from(pan).toString('hex'),
    Buffer.from(pan).toString('base64'),
  ];
}

describeKafka('card numbers never leave the gateway', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway(kafkaBrokers(), { GATEWAY_ISO_RESPONSE_TIMEOUT: '300ms' });
  }, 60_000);
  afterAll(async () => {
    await gw?.close();
  });

  async function sendIso(frames: Buffer[], replies: number): Promise<Iso8583Message[]> {
    const socket: Socket = connect(gw.gateway.isoPort!, '127.0.0.1');
    const splitter = new FrameSplitter();
    const got: Iso8583Message[] = [];
    await new Promise<void>((resolve, reject) => {
      socket.on('error', reject);
      socket.on('data', (chunk: Buffer) => {
        for (const body of splitter.push(chunk).frames) got.push(decodeMessage(body));
        if (got.length >= replies) resolve();
      });
      socket.on('connect', () => {
        for (const f of frames) socket.write(f);
        if (replies === 0) setTimeout(resolve, 200);
      });
    });
    socket.end();
    return got;
  }

  it('keeps PANs out of the topics, the dead-letter topic and the logs, through both doors', async () => {
    const http = await gw.gateway.app.inject({
      method: 'POST',
      url: '/v1/transactions',
      headers: { ...gw.auth(), 'content-type': 'application/json' },
      payload: JSON.stringify([
        transactionInput(1, { pan: PANS.httpAccepted, cvv: '123', pin_block: '0123456789ABCDEF' }),
        transactionInput(2, { pan: PANS.httpTrack, track2: `${PANS.httpTrack}=29122011234567890` }),
        transactionInput(3, { pan: PANS.httpRejected, currency: 'XXQ' }),
        transactionInput(4, { merchant_name: `Shop ${PANS.httpInText}` }),
      ]),
    });
    expect(http.statusCode).toBe(200);
    expect(http.json().results.map((r: { code?: string; status: string }) => r.code ?? r.status)).toEqual([
      'accepted',
      'accepted',
      'unknown_currency',
      'pan_in_text',
    ]);

    const replies = await sendIso(
      [
        msg('0200', isoSale('000101', { 2: PANS.isoField2 })),
        msg('0210', { 11: '000101', 37: '000000000101', 38: 'A1B2C3', 39: '00', 41: 'TRMISO01' }),
        msg('0200', isoSale('000102', { 35: `${PANS.isoTrack2}=29122011234567890` })),
        // Garbage after the fields: refused as TRAILING_BYTES and logged, with the PAN in the bytes.
        frame(
          Buffer.concat([
            encodeMessage(message('0200', isoSale('000103', { 2: PANS.isoBroken }))),
            Buffer.from('XX'),
          ]),
        ),
        msg('0800', { 7: '1122093000', 11: '000104', 41: 'TRMISO01', 70: '301' }),
      ],
      1,
    );
    expect(replies[0]).toMatchObject({ mti: '0810' });

    // The unanswered 0200 times out (300 ms) and is published then.
    const deadline = Date.now() + 15_000;
    let transactions = await readTopic(gw.kafka, gw.topics.transactions);
    while (transactions.length < 4 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      transactions = await readTopic(gw.kafka, gw.topics.transactions);
    }
    expect(transactions).toHaveLength(4);
    const heartbeats = await readTopic(gw.kafka, gw.topics.heartbeats);
    expect(heartbeats.length).toBeGreaterThanOrEqual(1);
    const deadLetters = await readTopic(gw.kafka, gw.topics.deadLetter);

    const decoded = await Promise.all(transactions.map((r) => gw.codec.decode(r.value!, 'TransactionEvent')));
    expect(decoded.filter((e) => e.card_token !== null)).toHaveLength(4);
    expect(decoded.map((e) => e.card_last4).sort()).toEqual(
      [PANS.httpAccepted, PANS.httpTrack, PANS.isoField2, PANS.isoTrack2].map((p) => p.slice(-4)).sort(),
    );

    const haystacks: [string, string][] = [
      ...[...transactions, ...heartbeats, ...deadLetters].map(
        (r) =>
          [
            `topic record ${r.partition}/${r.offset}`,
            Buffer.concat([
              r.key ?? Buffer.alloc(0),
              r.value ?? Buffer.alloc(0),
              Buffer.from(JSON.stringify(r.headers)),
            ]).toString('latin1'),
          ] as [string, string],
      ),
      ['logs', gw.logs.join('\n')],
      ['http reply', http.body],
    ];
    expect(gw.logs.join('\n')).toMatch(/TRAILING_BYTES/);
    for (const [name, pan] of Object.entries(PANS)) {
      for (const form of forms(pan)) {
        for (const [where, text] of haystacks) {
          expect(text.includes(form), `${name} (${form}) found in ${where}`).toBe(false);
        }
      }
    }
  }, 60_000);
});
