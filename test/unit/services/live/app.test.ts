import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildLiveApp } from '../../../../services/live/app.ts';
import { parseLiveConfig } from '../../../../services/live/config.ts';
import { createLogger } from '../../../../services/shared/logger.ts';
import { createMetricsRegistry } from '../../../../services/shared/metrics.ts';

const TOKEN = 'unit-test-token-0123456789';
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function build(opts: { wall: boolean; rebuilt: boolean }) {
  const wallDir = mkdtempSync(path.join(tmpdir(), 'pospulse-wall-unit-'));
  dirs.push(wallDir);
  if (opts.wall)
    for (const f of ['index.html', 'wall.js', 'wall.css']) writeFileSync(path.join(wallDir, f), `/* ${f} */`);
  const config = parseLiveConfig({ LIVE_TOKENS: TOKEN, LIVE_WALL_DIR: wallDir });
  return buildLiveApp(
    {
      logger: createLogger({ service: 'test', level: 'silent' }),
      metrics: createMetricsRegistry('live', false),
      epoch: 'e',
      rebuilt: () => opts.rebuilt,
    },
    config,
  ).app;
}

describe('live app', () => {
  it('serves the built wall page with a strict content security policy', async () => {
    const app = build({ wall: true, rebuilt: true });
    const page = await app.inject({ url: '/' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.headers['content-security-policy']).toMatch(/script-src 'self'/);
    expect(page.body).toBe('/* index.html */');
    expect((await app.inject({ url: '/wall.js' })).headers['content-type']).toMatch(/^text\/javascript/);
    await app.close();
  });

  it('says how to build the wall when it is not built', async () => {
    const app = build({ wall: false, rebuilt: true });
    const page = await app.inject({ url: '/' });
    expect(page.statusCode).toBe(503);
    expect(page.json()).toMatchObject({
      error: { code: 'wall_not_built', message: expect.stringMatching(/build:wall/) },
    });
    await app.close();
  });

  it('is not ready before the fleet is rebuilt, and keeps /metrics behind a token', async () => {
    const app = build({ wall: true, rebuilt: false });
    expect((await app.inject({ url: '/readyz' })).statusCode).toBe(503);
    expect((await app.inject({ url: '/healthz' })).statusCode).toBe(200);
    expect((await app.inject({ url: '/metrics' })).statusCode).toBe(401);
    const metrics = await app.inject({ url: '/metrics', headers: { authorization: `Bearer ${TOKEN}` } });
    expect(metrics.statusCode).toBe(200);
    expect(metrics.body).toContain('pospulse_live_connections');
    await app.close();
  });

  it('refuses a short token in its configuration, naming the variable', () => {
    expect(() => parseLiveConfig({ LIVE_TOKENS: 'short' })).toThrow(/LIVE_TOKENS/);
    expect(() => parseLiveConfig({})).toThrow(/LIVE_TOKENS/);
    expect(() => parseLiveConfig({ LIVE_TOKENS: TOKEN, LIVE_ALLOWED_ORIGINS: 'evil' })).toThrow(
      /LIVE_ALLOWED_ORIGINS/,
    );
  });
});
