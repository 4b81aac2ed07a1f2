import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { barChart, escapeHtml, lineChart, niceCeiling } from '../../../../services/api/report-charts.ts';
import { formatAmount, REPORT_CSP, reportHtml } from '../../../../services/api/report-html.ts';
import { sampleReport } from './sample-report.ts';

describe('report HTML', () => {
  it('escapes a merchant id, an alert summary and a terminal that carry markup', () => {
    const r = sampleReport({ entity: { level: 'MERCHANT', id: '<script>alert(1)</script>' } });
    r.alerts.items[0]!.summary = '<img src=x onerror=alert(2)>';
    r.worst_terminals.by_approval_rate[0]!.terminal = 'T"><svg onload=alert(3)>';
    const html = reportHtml(r);
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toContain('<img');
    expect(html).not.toContain('<svg onload');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain('&lt;img src=x onerror=alert(2)&gt;');
    expect(escapeHtml(`&<>"'`)).toBe('&amp;&lt;&gt;&quot;&#39;');
  });

  it('is one page with its stylesheet, charts and print rules inline, and a CSP naming that stylesheet', () => {
    const html = reportHtml(sampleReport());
    const css = /<style>([\s\S]*)<\/style>/.exec(html)?.[1] ?? '';
    expect(css).toContain('@media print');
    expect(css).toContain('size: A4');
    expect(REPORT_CSP).toContain(`'sha256-${createHash('sha256').update(css).digest('base64')}'`);
    expect(REPORT_CSP).toContain("default-src 'none'");
    expect(html).not.toMatch(/\sstyle="|src="http|href="http/);
    // Transactions, approval rate, p95 latency and decline reasons.
    expect(html.match(/<svg class="chart"/g)).toHaveLength(4);
    expect(html).toContain('2026-12-02 (UTC), compared with 2026-12-01.');
  });

  it('shows trends with their direction, rates in percentage points, and no trend without a previous value', () => {
    const html = reportHtml(sampleReport());
    expect(html).toContain('<td class="num up">+400 (+25.0 %)</td>');
    expect(html).toContain('<td class="num down">-1.7 pp</td>');
    expect(html).toContain('<td>Average TPS</td><td class="num">0.0231</td><td class="num">0.0185</td>');
    expect(html).toMatch(
      /Host latency p99<\/td><td class="num">900 ms<\/td><td class="num">—<\/td><td class="num">—/,
    );
  });

  it('formats amounts in the currency’s own decimals', () => {
    expect(formatAmount(123_456, 'EUR')).toBe('€1,234.56');
    expect(formatAmount(5_000, 'JPY')).toBe('JP¥5,000');
    expect(formatAmount(1_000, 'ZZ')).toBe('1,000 ZZ (minor units)');
  });

  it('draws bars and lines to scale, breaking a line where a bucket has no data', () => {
    expect(niceCeiling(0)).toBe(1);
    expect(niceCeiling(73)).toBe(100);
    expect(niceCeiling(101)).toBe(200);
    expect(niceCeiling(0.3)).toBe(0.5);
    const bars = barChart(
      [
        { label: 'a', value: 50 },
        { label: 'b', value: 100 },
      ],
      { title: 't', format: String },
    );
    const ticks = [...bars.matchAll(/<text class="tick"[^>]*text-anchor="end">([^<]*)</g)].map((m) => m[1]);
    expect(ticks).toEqual(['0', '20', '40', '60', '80', '100']);
    const heights = [...bars.matchAll(/<rect class="bar"[^>]* height="([\d.]+)"/g)].map((m) => Number(m[1]));
    expect(heights[1]).toBeCloseTo(2 * heights[0]!, 0);
    const line = lineChart(
      [
        { label: 'a', value: 1 },
        { label: 'b', value: 2 },
        { label: 'c', value: null },
        { label: 'd', value: 3 },
        { label: 'e', value: 4 },
      ],
      { title: 't', format: String },
    );
    expect(line.match(/<polyline/g)).toHaveLength(2);
    expect(line.match(/<circle/g)).toHaveLength(4);
  });
});
