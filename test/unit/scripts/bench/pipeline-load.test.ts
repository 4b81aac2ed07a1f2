import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { RateLoad } from '../../../../scripts/bench/_pipeline-load.ts';

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
  server = undefined;
});

/** A stand-in gateway on port 0 answering each request with `answer`. */
async function gateway(answer: (body: unknown[], res: ServerResponse) => void): Promise<URL> {
  server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => answer(JSON.parse(Buffer.concat(chunks).toString()) as unknown[], res));
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/transactions`);
}

const accept = (body: unknown[], res: ServerResponse) =>
  res
    .writeHead(200, { 'content-type': 'application/json' })
    .end(JSON.stringify({ accepted: body.length, duplicates: 0, rejected: 0, results: [] }));

const loadOn = (url: URL, eventsPerRequest: number, maxInFlight: number) =>
  new RateLoad({
    url,
    authorization: 'Bearer k',
    eventsPerRequest,
    maxInFlight,
    makeEvent: (i) => ({ event_id: String(i) }),
  });

describe('RateLoad', () => {
  it('offers events at the set rate in requests of the set size, whatever the replies', async () => {
    const sizes: number[] = [];
    const url = await gateway((body, res) => {
      sizes.push(body.length);
      accept(body, res);
    });
    const load = loadOn(url, 5, 8);
    const t0 = performance.now();
    load.setRate(1_000);
    await sleep(500);
    const due = performance.now() - t0; // 1 event per ms
    await load.stop();
    // Whole requests only, and the latest ticks may not have run yet on a busy machine.
    expect(load.counts.offered).toBeGreaterThanOrEqual(due * 0.85 - 20);
    expect(load.counts.offered).toBeLessThanOrEqual(due + 5);
    expect(load.counts.accepted).toBe(load.counts.offered);
    expect(new Set(sizes)).toEqual(new Set([5]));
    expect(load.latenciesSince()).toHaveLength(sizes.length);
  });

  it('counts what it cannot send while maxInFlight requests wait, and refused events, as not accepted', async () => {
    const held: ServerResponse[] = [];
    let requests = 0;
    const url = await gateway((body, res) => {
      // The first two requests hang (a stalled gateway); the rest are refused with 503.
      if (requests++ < 2) held.push(res);
      else res.writeHead(503).end('{"errors":[{"code":"overloaded","message":"busy"}]}');
    });
    const load = loadOn(url, 10, 2);
    load.setRate(2_000);
    await sleep(300);
    expect(load.counts.inFlight).toBe(2);
    expect(load.counts.skipped).toBeGreaterThan(0);
    expect(load.counts.skipped).toBe(load.counts.offered - 20);
    for (const res of held) accept([], res);
    await sleep(100);
    await load.stop();
    const c = load.counts;
    expect(c.refused).toBeGreaterThan(0);
    expect(load.firstRefusal()).toMatch(/^HTTP (200|503)/);
    expect(c.accepted + c.refused + c.failed + c.skipped).toBe(c.offered);
  });
});
