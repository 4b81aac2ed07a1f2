import { describe, expect, it } from 'vitest';
import { CSV_HEADER, csvCell, reportCsv } from '../../../../services/api/report-csv.ts';
import { parseCsv, sampleReport } from './sample-report.ts';

describe('report CSV', () => {
  it('quotes cells as RFC 4180 says: commas, quotes and line breaks', () => {
    expect(csvCell('plain')).toBe('plain');
    expect(csvCell('a,b')).toBe('"a,b"');
    expect(csvCell('say "hi"')).toBe('"say ""hi"""');
    expect(csvCell('two\r\nlines')).toBe('"two\r\nlines"');
    expect(csvCell(null)).toBe('');
    expect(csvCell(0.25)).toBe('0.25');
    expect(csvCell(Number.NaN)).toBe('');
  });

  it('defuses text a spreadsheet would run as a formula, but keeps negative numbers numeric', () => {
    expect(csvCell('=HYPERLINK("http://evil","x")')).toBe(`"'=HYPERLINK(""http://evil"",""x"")"`);
    expect(csvCell('+1')).toBe("'+1");
    expect(csvCell('-2+3')).toBe("'-2+3");
    expect(csvCell('@SUM(A1)')).toBe("'@SUM(A1)");
    expect(csvCell('\tcmd')).toBe("'\tcmd");
    expect(csvCell(-0.05)).toBe('-0.05');
    expect(csvCell('M-1')).toBe('M-1');
  });

  it('writes one long table that parses back, each section under the one header', () => {
    const r = sampleReport({ entity: { level: 'MERCHANT', id: '=cmd|"/c calc"!A1' } });
    const text = reportCsv(r);
    expect(text.startsWith('\uFEFF')).toBe(true);
    expect(text.endsWith('\r\n')).toBe(true);
    const rows = parseCsv(text.slice(1));
    expect(rows[0]).toEqual(CSV_HEADER);
    expect(rows.every((row) => row.length === CSV_HEADER.length)).toBe(true);
    const find = (section: string, item: string, metric: string) =>
      rows.find((row) => row[0] === section && row[1] === item && row[2] === metric);
    expect(find('report', '', 'entity_id')?.[3]).toBe(`'=cmd|"/c calc"!A1`);
    expect(find('kpi', '', 'transactions')?.slice(3)).toEqual(['2000', '1600', '400', '0.25']);
    expect(find('kpi', '', 'latency_p99_ms')?.slice(3)).toEqual(['900', '', '', '']);
    expect(find('amount', 'EUR', 'approved_amount_minor')?.slice(3, 6)).toEqual([
      '1234567',
      '1000000',
      '234567',
    ]);
    expect(find('series', '2026-12-02T07:00:00.000Z', 'transactions')?.[3]).toBe('107');
    expect(find('series', '2026-12-02T03:00:00.000Z', 'approval_rate')?.[3]).toBe('');
    expect(find('worst_by_approval_rate', 'T-9', 'rank')?.[3]).toBe('1');
    expect(find('decline_reason', '51', 'count')?.slice(3)).toEqual(['40', '0', '40', '']);
    expect(find('alert', '0d7c1f9a-2b1e-4c55-8a4e-7f1f3f9b2c10', 'summary')?.[3]).toBe(
      '9 small declines, "quoted", on 7 cards',
    );
    expect(rows.filter((row) => row[0] === 'series')).toHaveLength(24 * 5);
  });
});
