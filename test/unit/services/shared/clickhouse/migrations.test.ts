import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseMigrationsConfig } from '../../../../../services/shared/clickhouse/migrations-config.ts';
import {
  bootstrapStatements,
  checksum,
  findMigrationsDir,
  loadMigrations,
  parseMigrationFileName,
  renderMigration,
  renderTemplate,
  splitStatements,
  type RenderContext,
} from '../../../../../services/shared/clickhouse/migrations.ts';
import {
  clickhouseTime,
  heartbeatRow,
  transactionRow,
} from '../../../../../services/shared/clickhouse/rows.ts';
import {
  ConfigError,
  ErrorCodes,
  MigrationError,
  ValidationError,
} from '../../../../../services/shared/errors.ts';
import { sampleHeartbeat, sampleTransaction } from '../../../../support/fixtures.ts';

const REPO = join(import.meta.dirname, '..', '..', '..', '..', '..');
const REAL_DIR = join(REPO, 'infra', 'clickhouse', 'migrations');
const single: RenderContext = { database: 'pospulse', rawTtlDays: 90 };
const cluster: RenderContext = { database: 'pospulse', cluster: 'main', rawTtlDays: 90 };

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected an error');
}

const tempDirs: string[] = [];
function migrationsDir(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'pospulse-migrations-'));
  tempDirs.push(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}
afterEach(() => {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('migration file names', () => {
  it('takes the version from the four leading digits and the name from the rest', () => {
    expect(parseMigrationFileName('0001_raw_events.sql')).toEqual({ version: 1, name: 'raw_events' });
    expect(parseMigrationFileName('0420_add_v2.sql')).toEqual({ version: 420, name: 'add_v2' });
  });

  it.each([
    '1_raw.sql',
    '00001_raw.sql',
    '0001-raw.sql',
    '0001_Raw.sql',
    '0001_.sql',
    '0001_raw__events.sql',
    '0000_zero.sql',
    '0001_raw.sql.bak',
  ])('rejects the malformed name %s with a MigrationError', (file) => {
    const err = thrown(() => parseMigrationFileName(file));
    expect(err).toBeInstanceOf(MigrationError);
    expect(err).toMatchObject({ code: ErrorCodes.MIGRATION });
    expect((err as Error).message).toContain(file);
  });

  it('loads the .sql files of a directory in version order and ignores other files', () => {
    const dir = migrationsDir({
      '0010_ten.sql': 'SELECT 10;',
      '0002_two.sql': 'SELECT 2;',
      '0001_one.sql': 'SELECT 1;',
      'README.md': '# notes',
    });
    const got = loadMigrations(dir);
    expect(got.map((m) => m.id)).toEqual(['0001_one', '0002_two', '0010_ten']);
    expect(got[1]).toMatchObject({ version: 2, name: 'two', file: '0002_two.sql', text: 'SELECT 2;' });
  });

  it('refuses two files with the same version, naming both', () => {
    const dir = migrationsDir({ '0001_one.sql': 'SELECT 1;', '0001_uno.sql': 'SELECT 1;' });
    const err = thrown(() => loadMigrations(dir));
    expect(err).toBeInstanceOf(MigrationError);
    expect((err as Error).message).toMatch(/0001_one\.sql and 0001_uno\.sql/);
  });

  it('refuses a malformed .sql file name in the directory', () => {
    const dir = migrationsDir({ '0001_one.sql': 'SELECT 1;', 'two.sql': 'SELECT 2;' });
    expect(thrown(() => loadMigrations(dir))).toBeInstanceOf(MigrationError);
  });

  it('refuses a directory that does not exist', () => {
    expect(thrown(() => loadMigrations(join(tmpdir(), 'pospulse-no-such-dir')))).toBeInstanceOf(
      MigrationError,
    );
  });
});

describe('migrations directory', () => {
  it('is infra/clickhouse/migrations next to the package.json above the module', () => {
    expect(findMigrationsDir()).toBe(REAL_DIR);
    expect(loadMigrations(REAL_DIR).map((m) => m.id)).toContain('0001_raw_events');
  });

  it('is found from a module compiled into dist/ too', () => {
    const root = migrationsDir({ 'package.json': '{}' });
    const compiled = join(root, 'dist', 'services', 'shared', 'clickhouse', 'migrations.js');
    mkdirSync(join(compiled, '..'), { recursive: true });
    expect(findMigrationsDir(compiled)).toBe(join(root, 'infra', 'clickhouse', 'migrations'));
  });
});

describe('statement splitting', () => {
  it('splits at semicolons and drops empty statements', () => {
    expect(splitStatements('SELECT 1;\nSELECT 2;\n\n;  ;\nSELECT 3')).toEqual([
      'SELECT 1',
      'SELECT 2',
      'SELECT 3',
    ]);
  });

  it('does not split at a semicolon inside a string literal, however the quote is escaped', () => {
    const sql = "SELECT 'a;b';\nSELECT 'it''s; fine';\nSELECT 'back\\'slash; too';\nSELECT 4;";
    expect(splitStatements(sql)).toEqual([
      "SELECT 'a;b'",
      "SELECT 'it''s; fine'",
      "SELECT 'back\\'slash; too'",
      'SELECT 4',
    ]);
  });

  it('does not split at a semicolon inside a quoted identifier', () => {
    expect(splitStatements('SELECT 1 AS `x;y`, 2 AS "p;q";')).toEqual(['SELECT 1 AS `x;y`, 2 AS "p;q"']);
  });

  it('removes comments, including semicolons and quotes inside them', () => {
    const sql = [
      "-- the terminal's table; created first",
      'CREATE TABLE t -- trailing; comment',
      '(a UInt8 /* one; byte */, b String)',
      'ENGINE = Memory;',
      '/* a block;',
      "   spanning lines, with an apostrophe's */",
      'SELECT 1; -- done',
      '-- only a comment; no statement',
    ].join('\n');
    expect(splitStatements(sql)).toEqual([
      'CREATE TABLE t\n(a UInt8  , b String)\nENGINE = Memory',
      'SELECT 1',
    ]);
  });

  it('keeps "--" inside a string literal', () => {
    expect(splitStatements("SELECT '--not a comment;';")).toEqual(["SELECT '--not a comment;'"]);
  });

  it('reports an unterminated string or block comment', () => {
    expect(thrown(() => splitStatements("SELECT 'open;"))).toBeInstanceOf(MigrationError);
    expect(thrown(() => splitStatements('SELECT 1 /* open;'))).toBeInstanceOf(MigrationError);
  });
});

describe('template rendering', () => {
  it('renders the plain placeholders for a single node and for a cluster', () => {
    const t = 'CREATE DATABASE IF NOT EXISTS {{database}}{{on_cluster}} -- ttl {{raw_ttl_days}}';
    expect(renderTemplate(t, single)).toBe('CREATE DATABASE IF NOT EXISTS pospulse -- ttl 90');
    expect(renderTemplate(t, cluster)).toBe(
      "CREATE DATABASE IF NOT EXISTS pospulse ON CLUSTER 'main' -- ttl 90",
    );
  });

  it('names the table holding the rows: the plain table, or its _local table on a cluster', () => {
    expect(renderTemplate('{{table:transactions}}', single)).toBe('pospulse.transactions');
    expect(renderTemplate('{{table:transactions}}', cluster)).toBe('pospulse.transactions_local');
  });

  it('makes a MergeTree engine Replicated on a cluster, keeping its parameters', () => {
    expect(renderTemplate('{{engine:tx:ReplacingMergeTree}}', single)).toBe('ReplacingMergeTree');
    expect(renderTemplate('{{engine:tx:ReplacingMergeTree(ver)}}', single)).toBe('ReplacingMergeTree(ver)');
    expect(renderTemplate('{{engine:tx:ReplacingMergeTree}}', cluster)).toBe(
      "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/tx_local', '{replica}')",
    );
    expect(renderTemplate('{{engine:tx:ReplacingMergeTree(ver)}}', cluster)).toBe(
      "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/tx_local', '{replica}', ver)",
    );
    expect(renderTemplate('{{engine:kpi:MergeTree()}}', cluster)).toBe(
      "ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/kpi_local', '{replica}')",
    );
  });

  it('renders the Distributed table only on a cluster', () => {
    const t = '{{distributed:transactions:cityHash64(terminal_serial)}}';
    expect(renderTemplate(t, single)).toBe('');
    expect(renderTemplate(t, cluster)).toBe(
      "CREATE TABLE IF NOT EXISTS pospulse.transactions ON CLUSTER 'main' AS pospulse.transactions_local " +
        "ENGINE = Distributed('main', 'pospulse', 'transactions_local', cityHash64(terminal_serial))",
    );
  });

  it('leaves single braces (server macros, query parameters) alone', () => {
    const t = "SELECT {id:UUID}, '{shard}' FROM {{database}}.t";
    expect(renderTemplate(t, single)).toBe("SELECT {id:UUID}, '{shard}' FROM pospulse.t");
  });

  it.each([
    ['an unknown placeholder', '{{databse}}', 'unknown placeholder {{databse}}'],
    ['an argument to a plain placeholder', '{{database:x}}', 'takes no argument'],
    ['a table that is not an identifier', '{{table:a-b}}', 'expected {{table:<table>}}'],
    ['an engine without a table', '{{engine:ReplacingMergeTree}}', 'expected {{engine:<table>:<…>}}'],
    ['an engine outside the MergeTree family', '{{engine:t:Memory}}', 'not a MergeTree family engine'],
    [
      'an engine already Replicated',
      '{{engine:t:ReplicatedMergeTree}}',
      'the cluster variant adds Replicated',
    ],
    ['a Distributed table without a sharding key', '{{distributed:t}}', 'expected {{distributed:'],
    ['a malformed placeholder', '{{ Database }}', 'malformed placeholder'],
    ['an unclosed placeholder', 'SELECT {{database', 'unclosed placeholder'],
  ])('fails on %s with a MigrationError naming the file', (_what, template, message) => {
    const err = thrown(() => renderTemplate(template, single, '0007_x.sql'));
    expect(err).toBeInstanceOf(MigrationError);
    expect((err as Error).message).toContain('0007_x.sql');
    expect((err as Error).message).toContain(message);
  });

  it('refuses a context that could not be rendered safely', () => {
    expect(thrown(() => renderTemplate('x', { ...single, database: 'a;b' }))).toBeInstanceOf(MigrationError);
    expect(thrown(() => renderTemplate('x', { ...single, cluster: "c' x" }))).toBeInstanceOf(MigrationError);
    expect(thrown(() => renderTemplate('x', { ...single, rawTtlDays: 0 }))).toBeInstanceOf(MigrationError);
  });
});

describe('the raw-events migration', () => {
  const [raw] = loadMigrations(REAL_DIR);

  it('renders two single-node tables with no cluster clause', () => {
    const statements = renderMigration(raw!, { ...single, rawTtlDays: 30 });
    expect(statements).toHaveLength(2);
    expect(statements[0]).toMatch(/^CREATE TABLE IF NOT EXISTS pospulse\.transactions\n/);
    expect(statements[1]).toMatch(/^CREATE TABLE IF NOT EXISTS pospulse\.terminal_heartbeats\n/);
    for (const s of statements) {
      expect(s).toContain('ENGINE = ReplacingMergeTree\n');
      expect(s).toContain('+ INTERVAL 30 DAY');
      expect(s).not.toMatch(/ON CLUSTER|Replicated|Distributed|_local|--|\{\{/);
    }
  });

  it('renders local Replicated tables plus Distributed tables for a cluster', () => {
    const statements = renderMigration(raw!, cluster);
    expect(statements.map((s) => /^CREATE TABLE IF NOT EXISTS (\S+) ON CLUSTER 'main'/.exec(s)?.[1])).toEqual(
      [
        'pospulse.transactions_local',
        'pospulse.transactions',
        'pospulse.terminal_heartbeats_local',
        'pospulse.terminal_heartbeats',
      ],
    );
    expect(statements[0]).toContain(
      "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/transactions_local', '{replica}')",
    );
    expect(statements[3]).toContain(
      "Distributed('main', 'pospulse', 'terminal_heartbeats_local', cityHash64(terminal_serial))",
    );
  });

  it('bootstraps the database and the record table, replicated to every node on a cluster', () => {
    const [db, record] = bootstrapStatements(cluster);
    expect(db).toBe("CREATE DATABASE IF NOT EXISTS pospulse ON CLUSTER 'main'");
    expect(record).toContain(
      "ReplicatedReplacingMergeTree('/clickhouse/tables/all/{database}/schema_migrations'",
    );
    expect(bootstrapStatements(single)[1]).toMatch(/ENGINE = ReplacingMergeTree\nORDER BY version$/);
  });
});

describe('checksum', () => {
  it('is the sha256 of the file text, blind to CRLF line endings only', () => {
    // printf 'SELECT 1;\n' | sha256sum
    expect(checksum('SELECT 1;\n')).toBe('b4e0497804e46e0a0b0b8c31975b062152d551bac49c3c2e80932567b4085dcd');
    expect(checksum('SELECT 1;\r\nSELECT 2;\r\n')).toBe(checksum('SELECT 1;\nSELECT 2;\n'));
    expect(checksum('SELECT 1;\n')).not.toBe(checksum('SELECT 1; \n'));
    const raw = loadMigrations(REAL_DIR)[0]!;
    expect(raw.checksum).toBe(checksum(readFileSync(join(REAL_DIR, raw.file), 'utf8')));
  });
});

describe('migrations config', () => {
  it('defaults to single-node tables kept 90 days', () => {
    expect(parseMigrationsConfig({})).toEqual({ cluster: undefined, rawTtlDays: 90 });
  });

  it('reads the cluster name and a TTL in whole days', () => {
    expect(parseMigrationsConfig({ CLICKHOUSE_CLUSTER: 'main', CLICKHOUSE_RAW_TTL: '30d' })).toEqual({
      cluster: 'main',
      rawTtlDays: 30,
    });
    expect(parseMigrationsConfig({ CLICKHOUSE_RAW_TTL: '720h' }).rawTtlDays).toBe(30);
  });

  it.each(['36h', '90', '0d', 'forever', '40000d'])('refuses CLICKHOUSE_RAW_TTL=%s', (value) => {
    const err = thrown(() => parseMigrationsConfig({ CLICKHOUSE_RAW_TTL: value }));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err).toMatchObject({
      variable: 'CLICKHOUSE_RAW_TTL',
      expected: expect.stringContaining('whole number of days'),
    });
  });

  it('refuses a cluster name that is not a plain name', () => {
    expect(thrown(() => parseMigrationsConfig({ CLICKHOUSE_CLUSTER: "main' --" }))).toBeInstanceOf(
      ConfigError,
    );
  });
});

describe('rows of the raw tables', () => {
  it('writes timestamps as UTC DateTime64 text and flattens the basket', () => {
    const ev = sampleTransaction(1);
    const row = transactionRow(ev);
    expect(row.request_time).toBe(new Date(ev.request_time).toISOString().slice(0, 23).replace('T', ' '));
    expect(row.response_time).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}$/);
    expect(row).toMatchObject({
      event_id: ev.event_id,
      amount_minor: ev.amount_minor,
      basket_item_count: 2,
      basket_items: ev.basket!.items,
      basket_discount_minor: 50,
      basket_coupon_codes: ['WELCOME10'],
    });
    expect(row).not.toHaveProperty('basket');
  });

  it('gives a transaction without basket or response null scalars and empty arrays', () => {
    const row = transactionRow(sampleTransaction(23));
    expect(row).toMatchObject({
      response_time: null,
      basket_item_count: null,
      basket_items: [],
      basket_discount_minor: null,
      basket_coupon_codes: [],
    });
  });

  it('maps a heartbeat field by field', () => {
    const hb = sampleHeartbeat(3);
    const { event_time: _e, gateway_received_time: _g, ...rest } = hb;
    expect(heartbeatRow(hb)).toEqual({
      ...rest,
      event_time: clickhouseTime(hb.event_time),
      gateway_received_time: clickhouseTime(hb.gateway_received_time),
    });
  });

  it('refuses a timestamp outside the DateTime64 range instead of letting ClickHouse clamp it', () => {
    expect(clickhouseTime(0)).toBe('1970-01-01 00:00:00.000');
    const err = thrown(() => transactionRow(sampleTransaction(2, { request_time: Date.UTC(2400, 0, 1) })));
    expect(err).toBeInstanceOf(ValidationError);
    expect(err).toMatchObject({ path: 'request_time' });
  });
});
