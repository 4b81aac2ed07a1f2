import { describe, expect, it } from 'vitest';
import { parseAccessStatement } from '../../../../services/store/access-sql.ts';
import type { ClickHouseHttpError } from '../../../../services/store/clickhouse-error.ts';

const HEX = 'ab'.repeat(32);

function failure(sql: string): ClickHouseHttpError {
  try {
    parseAccessStatement(sql);
  } catch (err) {
    return err as ClickHouseHttpError;
  }
  throw new Error(`${sql} was accepted`);
}

describe('parseAccessStatement', () => {
  it('reads the CREATE USER the api sends, with its limits', () => {
    expect(
      parseAccessStatement(
        `CREATE USER analyst_1 IDENTIFIED WITH sha256_hash BY '${HEX.toUpperCase()}' SETTINGS readonly = 1 CONST, ` +
          'max_execution_time = 30 CONST, max_result_rows = 1000 CONST, max_result_bytes = 4096 CONST',
      ),
    ).toEqual({
      kind: 'CREATE USER',
      name: 'analyst_1',
      ifNotExists: false,
      passwordSha256Hex: HEX,
      limits: { maxExecutionTime: 30, maxResultRows: 1000, maxResultBytes: 4096 },
    });
  });

  it('takes IF NOT EXISTS, backquoted names, READONLY, comments, a trailing semicolon and the concurrency setting', () => {
    expect(
      parseAccessStatement(
        `/* issued */ create user if not exists \`ana\` identified with SHA256_HASH by '${HEX}'\n` +
          'settings readonly = 1 READONLY, max_concurrent_queries_for_user = 3; -- done',
      ),
    ).toEqual({
      kind: 'CREATE USER',
      name: 'ana',
      ifNotExists: true,
      passwordSha256Hex: HEX,
      limits: { maxConcurrentQueries: 3 },
    });
  });

  it('reads GRANT SELECT ON db.* and DROP USER', () => {
    expect(parseAccessStatement('GRANT SELECT ON pospulse.* TO ana')).toEqual({
      kind: 'GRANT',
      database: 'pospulse',
      name: 'ana',
    });
    expect(parseAccessStatement('GRANT SELECT ON *.* TO ana')).toMatchObject({ database: '*' });
    expect(parseAccessStatement('DROP USER IF EXISTS ana')).toEqual({
      kind: 'DROP USER',
      name: 'ana',
      ifExists: true,
    });
    expect(parseAccessStatement('DROP USER ana;')).toEqual({
      kind: 'DROP USER',
      name: 'ana',
      ifExists: false,
    });
  });

  it('leaves ordinary statements to the engine', () => {
    for (const sql of [
      'SELECT 1',
      'CREATE TABLE t (a Int8) ENGINE = Memory',
      'DROP TABLE t',
      'CREATE DATABASE db',
      "INSERT INTO t VALUES ('CREATE USER x')",
    ])
      expect(parseAccessStatement(sql), sql).toBeUndefined();
  });

  it.each([
    ["CREATE USER 1ana IDENTIFIED WITH sha256_hash BY '%H' SETTINGS readonly = 1", /user name/],
    ["CREATE USER `a-b` IDENTIFIED WITH sha256_hash BY '%H' SETTINGS readonly = 1", /user name/],
    [`CREATE USER ${'a'.repeat(65)} IDENTIFIED WITH sha256_hash BY '%H' SETTINGS readonly = 1`, /at most 64/],
    ["CREATE USER a, b IDENTIFIED WITH sha256_hash BY '%H' SETTINGS readonly = 1", /one user name/],
    ['CREATE USER ana SETTINGS readonly = 1', /IDENTIFIED/],
    ["CREATE USER ana IDENTIFIED WITH plaintext_password BY 'secret' SETTINGS readonly = 1", /sha256_hash/],
    ["CREATE USER ana IDENTIFIED WITH sha256_hash BY 'abc' SETTINGS readonly = 1", /64 hex digits/],
    ["CREATE USER ana IDENTIFIED WITH sha256_hash BY '%H' SALT 'x' SETTINGS readonly = 1", /SALT/],
    ["CREATE USER ana IDENTIFIED WITH sha256_hash BY '%H'", /read-only users only/],
    ["CREATE USER ana IDENTIFIED WITH sha256_hash BY '%H' SETTINGS max_result_rows = 5", /readonly = 1/],
    ["CREATE USER ana IDENTIFIED WITH sha256_hash BY '%H' SETTINGS readonly = 0", /readonly must be 1/],
    ["CREATE USER ana IDENTIFIED WITH sha256_hash BY '%H' SETTINGS readonly = 1 WRITABLE", /WRITABLE/],
    [
      "CREATE USER ana IDENTIFIED WITH sha256_hash BY '%H' SETTINGS readonly = 1, max_result_rows = 5 MAX 9",
      /MAX/,
    ],
    [
      "CREATE USER ana IDENTIFIED WITH sha256_hash BY '%H' SETTINGS readonly = 1, readonly = 1",
      /given twice/,
    ],
    [
      "CREATE USER ana IDENTIFIED WITH sha256_hash BY '%H' SETTINGS readonly = 1, max_execution_time = -1",
      /whole number/,
    ],
    [
      "CREATE USER ana IDENTIFIED WITH sha256_hash BY '%H' SETTINGS readonly = 1, max_concurrent_queries_for_user = 0",
      /between 1 and 64/,
    ],
    ["CREATE USER ana IDENTIFIED WITH sha256_hash BY '%H' SETTINGS readonly = 1 HOST ANY", /HOST/],
    ["CREATE USER ana IDENTIFIED WITH sha256_hash BY '%H' SETTINGS readonly = 1 DEFAULT ROLE r", /DEFAULT/],
    ['GRANT INSERT ON pospulse.* TO ana', /SELECT only/],
    ['GRANT SELECT ON pospulse.t TO ana', /\.\*/],
    ['GRANT SELECT ON pospulse.* TO ana WITH GRANT OPTION', /WITH/],
    ['GRANT SELECT ON pospulse.* TO ana, bob', /","/],
    ['DROP USER ana, bob', /","/],
    ['DROP USER IF ana', /EXISTS/],
  ])('refuses %j with a SYNTAX_ERROR saying what is wrong', (template, why) => {
    const e = failure(template.replace('%H', HEX));
    expect(e.chType).toBe('SYNTAX_ERROR');
    expect(e.chCode).toBe(62);
    expect(e.text).toMatch(why);
  });

  it('names the settings it takes when given another', () => {
    const e = failure(
      `CREATE USER ana IDENTIFIED WITH sha256_hash BY '${HEX}' SETTINGS readonly = 1, allow_ddl = 1`,
    );
    expect(e.chType).toBe('UNKNOWN_SETTING');
    expect(e.text).toMatch(/max_execution_time/);
  });

  it.each([
    'ALTER USER ana IDENTIFIED BY x',
    'REVOKE SELECT ON db.* FROM ana',
    'CREATE ROLE r',
    'DROP QUOTA q',
  ])('refuses access SQL outside the subset (%j) as not implemented', (sql) => {
    expect(failure(sql).chType).toBe('NOT_IMPLEMENTED');
  });
});
