import { describe, expect, it } from 'vitest';
import { scanSql } from '../../../../services/store/sql-scan.ts';

describe('scanSql', () => {
  it.each([
    ['SELECT 1', 'SELECT', true],
    ['  with x AS (SELECT 1) SELECT * FROM x', 'WITH', true],
    ['(SELECT 1) UNION ALL (SELECT 2)', 'SELECT', true],
    ['/* hi */ -- comment\nSHOW TABLES', 'SHOW', false],
    ['DESC t', 'DESC', false],
    ['INSERT INTO t VALUES (1)', 'INSERT', false],
    ['CREATE TABLE t (a Int8) ENGINE = Memory', 'CREATE', false],
    ['', '', false],
  ])('classifies %j as %s', (sql, kind, streamable) => {
    expect(scanSql(sql)).toMatchObject({ kind, streamable });
  });

  it('finds the statement’s own FORMAT, not one inside a string or a subquery', () => {
    expect(scanSql("SELECT 'FORMAT CSV' FORMAT JSONEachRow").format).toBe('JSONEachRow');
    expect(scanSql('SELECT * FROM (SELECT 1 FORMAT CSV)').format).toBeUndefined();
    expect(scanSql('SELECT 1').format).toBeUndefined();
  });

  it.each([
    "SELECT 1 INTO OUTFILE '/tmp/x'",
    "select 1 into   outfile '/tmp/x' TRUNCATE",
    "INSERT INTO t FROM INFILE '/etc/passwd' FORMAT CSV",
    "SELECT * FROM file('/etc/passwd', LineAsString)",
    "SELECT * FROM FILE ('/etc/passwd')",
    "SELECT * FROM url('http://x', CSV)",
    "SELECT * FROM s3('http://x')",
    "SELECT * FROM remote('h', db.t)",
    'CREATE TABLE x (a String) ENGINE = File(CSV)',
    "SELECT * FROM executable('sh', CSV, 'a String')",
    "INSERT INTO t VALUES (file('/etc/passwd'))",
    'SELECT 1; SELECT 2',
    'SELECT 1;; SELECT 2',
  ])('refuses %j', (sql) => {
    expect(scanSql(sql).forbidden).toBeDefined();
  });

  it.each([
    "SELECT 'INTO OUTFILE' AS a, `file`(1) -- file('x')",
    "SELECT count() FROM t WHERE url = 'x' AND file = 'y'",
    'SELECT domain(url) FROM t',
    'SELECT 1;',
    'SELECT 1; -- trailing comment',
    "SELECT 'a;b' /* ; */",
    'INSERT INTO t FORMAT JSONEachRow {"file": "file(\'/x\')"}',
  ])('lets %j through', (sql) => {
    expect(scanSql(sql).forbidden).toBeUndefined();
  });

  it('locates where an INSERT’s data begins, before SETTINGS when present', () => {
    const plain = 'INSERT INTO db.t (a, b) FORMAT JSONEachRow';
    expect(scanSql(plain).insert).toEqual({
      spliceAt: plain.indexOf('FORMAT'),
      format: 'JSONEachRow',
      dataOutside: true,
    });
    const withSettings = 'INSERT INTO t SETTINGS async_insert=0 FORMAT CSV';
    expect(scanSql(withSettings).insert).toMatchObject({
      spliceAt: withSettings.indexOf('SETTINGS'),
      format: 'CSV',
    });
    const values = 'INSERT INTO t (a) VALUES';
    expect(scanSql(values).insert).toEqual({
      spliceAt: values.indexOf('VALUES'),
      format: 'Values',
      dataOutside: true,
    });
    expect(scanSql('INSERT INTO t FORMAT JSONEachRow {"a":1}').insert?.dataOutside).toBe(false);
    expect(scanSql('INSERT INTO t SELECT * FROM u').insert).toBeUndefined();
  });
});
