import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TerminalStatus } from '../../../../services/shared/avro/types.generated.ts';
import {
  findMigrationsDir,
  loadMigrations,
  renderMigration,
  runMigrations,
} from '../../../../services/shared/clickhouse/migrations.ts';
import type { Store } from '../../../../services/shared/clickhouse/store.ts';
import {
  TERMINAL_STATUS_COLUMNS,
  terminalStatusFromRow,
  terminalStatusRow,
} from '../../../../services/processor/status/rows.ts';
import { TerminalStatusTracker } from '../../../../services/processor/status/terminal-status.ts';
import { sampleHeartbeat, sampleTransaction } from '../../../support/fixtures.ts';
import { openTestStore, type TestStore } from '../../support/store.ts';

const REAL_DIR = findMigrationsDir();
// Recent enough for the 30-day TTL the test tables get (a fixed date would expire), on an hour boundary.
const T0 = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 86_400_000;
const MINUTE = 60_000;

/** The example queries of docs/TERMINAL_STATUS.md, verbatim (database `pospulse`). */
const ANALYST_QUERIES = {
  fleetByRegion: `
SELECT region, status, count() AS terminals
FROM pospulse.terminal_status_latest FINAL
GROUP BY region, status
ORDER BY region, status`,
  degradedWithReasons: `
SELECT terminal_serial, merchant_name, reasons, since
FROM pospulse.terminal_status_latest FINAL
WHERE status = 'DEGRADED'
ORDER BY since, terminal_serial`,
  offlineEpisodes: `
SELECT terminal_serial, uniqExactIf(since, status = 'OFFLINE') AS offline_episodes
FROM pospulse.terminal_status FINAL
WHERE updated_time >= {from:DateTime64(3, 'UTC')} AND updated_time < {to:DateTime64(3, 'UTC')}
GROUP BY terminal_serial
HAVING offline_episodes > 0
ORDER BY offline_episodes DESC, terminal_serial`,
  statusAt: `
SELECT terminal_serial, argMax(status, version) AS status_at
FROM pospulse.terminal_status
WHERE updated_time <= {at:DateTime64(3, 'UTC')}
GROUP BY terminal_serial
ORDER BY terminal_serial`,
};

interface TableRow {
  name: string;
  engine: string;
  partition_key: string;
  sorting_key: string;
  create_table_query: string;
}

/**
 * A small fleet over an hour: five terminals heartbeating every minute, one running out of paper,
 * one losing its battery, one going silent for ten minutes, one declining most transactions. The
 * processor clock runs with the events.
 */
function runFleet(): { records: TerminalStatus[]; tracker: TerminalStatusTracker; end: number } {
  let clock = T0;
  const tracker = new TerminalStatusTracker({ clock: () => clock });
  const records: TerminalStatus[] = [];
  const serials = ['TRM-A', 'TRM-B', 'TRM-C', 'TRM-D', 'TRM-E'];
  let i = 0;
  for (let minute = 0; minute < 60; minute++) {
    clock = T0 + minute * MINUTE;
    for (const [k, serial] of serials.entries()) {
      const silent = serial === 'TRM-C' && minute >= 20 && minute < 30;
      if (silent) continue;
      records.push(
        ...tracker.onHeartbeat(
          sampleHeartbeat(i++, {
            terminal_serial: serial,
            merchant_id: `M${k}`,
            event_time: clock - 500,
            gateway_received_time: clock,
            online: true,
            battery_pct: serial === 'TRM-B' ? Math.max(5, 60 - minute) : null,
            paper_state: serial === 'TRM-A' && minute >= 40 ? 'OUT' : 'OK',
            offline_queue_length: 0,
          }),
        ),
      );
      records.push(
        ...tracker.onTransaction(
          sampleTransaction(i++, {
            terminal_serial: serial,
            merchant_id: `M${k}`,
            merchant_name: `Shop ${k}`,
            region: k < 3 ? 'north' : 'south',
            request_time: clock - 200,
            gateway_received_time: clock + 100,
            status: serial === 'TRM-D' && minute >= 10 && minute % 4 !== 0 ? 'DECLINED' : 'APPROVED',
          }),
        ),
      );
    }
    records.push(...tracker.tick(clock + 30_000));
  }
  return { records, tracker, end: clock + MINUTE };
}

function latestByTerminal(records: readonly TerminalStatus[]): Map<string, TerminalStatus> {
  const latest = new Map<string, TerminalStatus>();
  for (const r of records) {
    const held = latest.get(r.terminal_serial);
    if (!held || held.version < r.version) latest.set(r.terminal_serial, r);
  }
  return latest;
}

const chTime = (ms: number): string => new Date(ms).toISOString().slice(0, 23).replace('T', ' ');

describe('terminal_status tables on the real engine', () => {
  let test: TestStore;
  let store: Store;
  let db: string;

  beforeAll(async () => {
    test = await openTestStore();
    store = test.store;
    db = `pp_status_${Math.random().toString(36).slice(2, 10)}`;
    const report = await runMigrations(store, { database: db, rawTtlDays: 30 });
    expect(report.applied).toContain('0003_terminal_status');
  });

  afterAll(async () => {
    await store.command(`DROP DATABASE IF EXISTS ${db}`);
    await test.close();
  });

  it('creates the history table, the latest table and the view that feeds it', async () => {
    const rows = await store.query<TableRow>(
      `SELECT name, engine, partition_key, sorting_key, create_table_query
         FROM system.tables WHERE database = {db:String} AND name LIKE 'terminal_status%'`,
      { db },
    );
    const t = new Map(rows.map((r) => [r.name, r]));
    expect([...t.keys()].sort()).toEqual([
      'terminal_status',
      'terminal_status_latest',
      'terminal_status_latest_mv',
    ]);
    expect(t.get('terminal_status')).toMatchObject({
      engine: 'ReplacingMergeTree',
      partition_key: 'toDate(updated_time)',
      sorting_key: 'terminal_serial, updated_time, version',
    });
    expect(t.get('terminal_status')!.create_table_query).toContain(
      'TTL toDate(updated_time) + toIntervalDay(30) SETTINGS ttl_only_drop_parts = 1, non_replicated_deduplication_window = 1000',
    );
    expect(t.get('terminal_status_latest')).toMatchObject({
      engine: 'ReplacingMergeTree',
      sorting_key: 'terminal_serial',
    });
    expect(t.get('terminal_status_latest')!.create_table_query).toContain('ReplacingMergeTree(version)');
    expect(t.get('terminal_status_latest_mv')!.engine).toBe('MaterializedView');
  });

  it('gives every Avro field a column of the same name, Nullable exactly where the field is optional', async () => {
    const schema = JSON.parse(
      readFileSync(join(REAL_DIR, '..', '..', '..', 'schemas', 'TerminalStatus.avsc'), 'utf8'),
    ) as { fields: { name: string; type: unknown }[] };
    expect(schema.fields.map((f) => f.name)).toEqual([...TERMINAL_STATUS_COLUMNS]);
    for (const table of ['terminal_status', 'terminal_status_latest']) {
      const cols = new Map(
        (
          await store.query<{ name: string; type: string }>(
            `SELECT name, type FROM system.columns WHERE database = {db:String} AND table = {table:String}`,
            { db, table },
          )
        ).map((c) => [c.name, c.type]),
      );
      for (const f of schema.fields) {
        const type = cols.get(f.name);
        expect(type, `${table}.${f.name}`).toBeDefined();
        const optional = Array.isArray(f.type) && f.type.includes('null');
        expect(type!.includes('Nullable'), `${table}.${f.name}: ${type}`).toBe(optional);
      }
    }
  });

  it('stores the tracker records and gives back the latest status of every terminal, duplicates and order notwithstanding', async () => {
    const { records, tracker, end } = runFleet();
    const expected = latestByTerminal(records);
    expect(expected.size).toBe(5);
    expect(expected.get('TRM-A')).toMatchObject({ status: 'DEGRADED', reasons: ['paper_out'] });
    expect(expected.get('TRM-B')).toMatchObject({ status: 'DEGRADED', reasons: ['low_battery'] });
    expect(expected.get('TRM-D')).toMatchObject({ status: 'DEGRADED', reasons: ['high_decline_rate'] });
    expect(expected.get('TRM-E')).toMatchObject({ status: 'ONLINE', reasons: [] });
    expect(records.some((r) => r.terminal_serial === 'TRM-C' && r.status === 'OFFLINE')).toBe(true);

    // Newest first, then everything again (at-least-once delivery): neither may matter.
    const rows = records.map(terminalStatusRow);
    await store.insert(`${db}.terminal_status`, rows.slice(Math.floor(rows.length / 2)));
    await store.insert(`${db}.terminal_status`, rows.slice(0, Math.floor(rows.length / 2)));
    await store.insert(`${db}.terminal_status`, rows);

    const history = await store.query<{ n: string }>(`SELECT count() AS n FROM ${db}.terminal_status FINAL`);
    expect(Number(history[0]!.n)).toBe(records.length);

    const latest = (
      await store.query<Record<string, unknown>>(
        `SELECT ${TERMINAL_STATUS_COLUMNS.join(', ')} FROM ${db}.terminal_status_latest FINAL ORDER BY terminal_serial`,
      )
    ).map(terminalStatusFromRow);
    expect(latest).toEqual(
      [...expected.values()].sort((a, b) => a.terminal_serial.localeCompare(b.terminal_serial)),
    );

    // The same answer without FINAL, as an argMax over the history.
    const viaArgMax = await store.query<{ terminal_serial: string; status: string; max_version: string }>(
      `SELECT terminal_serial, argMax(status, version) AS status, max(version) AS max_version
         FROM ${db}.terminal_status GROUP BY terminal_serial ORDER BY terminal_serial`,
    );
    expect(viaArgMax).toEqual(
      latest.map((r) => ({
        terminal_serial: r.terminal_serial,
        status: r.status,
        max_version: String(r.version),
      })),
    );

    // A restarted processor rebuilds the same fleet from the table.
    const restarted = new TerminalStatusTracker({ clock: () => end });
    restarted.restore(latest, end);
    expect(restarted.snapshot().sort((a, b) => a.terminal_serial.localeCompare(b.terminal_serial))).toEqual(
      latest,
    );
    expect(restarted.tick(end)).toEqual([]);
    expect(tracker.size).toBe(5);
  });

  it('drops an INSERT retried with the same deduplication token, in the history and in the latest table', async () => {
    const t = new TerminalStatusTracker({ clock: () => T0 });
    const records = [
      ...t.onHeartbeat(sampleHeartbeat(1, { terminal_serial: 'TRM-RETRY', gateway_received_time: T0 })),
      ...t.onHeartbeat(
        sampleHeartbeat(2, {
          terminal_serial: 'TRM-RETRY',
          gateway_received_time: T0 + 1,
          paper_state: 'OUT',
        }),
      ),
    ];
    expect(records).toHaveLength(2);
    for (let i = 0; i < 2; i++) {
      await store.insert(`${db}.terminal_status`, records.map(terminalStatusRow), {
        dedupToken: 'terminal-status:0:100-101',
      });
    }
    for (const table of ['terminal_status', 'terminal_status_latest']) {
      const [r] = await store.query<{ n: string }>(
        `SELECT count() AS n FROM ${db}.${table} WHERE terminal_serial = 'TRM-RETRY'`,
      );
      expect(Number(r!.n), table).toBe(2); // no FINAL: two rows written once, not four
    }
  });

  it('answers the example queries of docs/TERMINAL_STATUS.md', async () => {
    const queryDb = `${db}_q`;
    await runMigrations(store, { database: queryDb, rawTtlDays: 30 });
    try {
      const { records } = runFleet();
      await store.insert(`${queryDb}.terminal_status`, records.map(terminalStatusRow));
      const run = <T>(sql: string, params?: Record<string, unknown>) =>
        store.query<T>(sql.replaceAll('pospulse.', `${queryDb}.`), params);

      expect(await run(ANALYST_QUERIES.fleetByRegion)).toEqual([
        { region: 'north', status: 'DEGRADED', terminals: '2' },
        { region: 'north', status: 'ONLINE', terminals: '1' },
        { region: 'south', status: 'DEGRADED', terminals: '1' },
        { region: 'south', status: 'ONLINE', terminals: '1' },
      ]);
      const degraded = await run<{ terminal_serial: string; reasons: string[] }>(
        ANALYST_QUERIES.degradedWithReasons,
      );
      expect(degraded.map((d) => [d.terminal_serial, d.reasons])).toEqual([
        ['TRM-D', ['high_decline_rate']],
        ['TRM-A', ['paper_out']],
        ['TRM-B', ['low_battery']],
      ]);
      expect(
        await run(ANALYST_QUERIES.offlineEpisodes, { from: chTime(T0), to: chTime(T0 + 2 * 60 * MINUTE) }),
      ).toEqual([{ terminal_serial: 'TRM-C', offline_episodes: '1' }]);
      const at = await run<{ terminal_serial: string; status_at: string }>(ANALYST_QUERIES.statusAt, {
        at: chTime(T0 + 28 * MINUTE),
      });
      expect(at.find((r) => r.terminal_serial === 'TRM-C')?.status_at).toBe('OFFLINE');
    } finally {
      await store.command(`DROP DATABASE IF EXISTS ${queryDb}`);
    }
  });

  it('renders cluster statements the engine parses: replicated tables, Distributed tables, the view on the local tables', async () => {
    const migration = loadMigrations(REAL_DIR).find((m) => m.id === '0003_terminal_status')!;
    const statements = renderMigration(migration, {
      database: 'pospulse',
      cluster: 'pospulse_cluster',
      rawTtlDays: 90,
    });
    const formatted: string[] = [];
    for (const q of statements) {
      const [r] = await store.query<{ f: string }>('SELECT formatQuery({q:String}) AS f', { q });
      formatted.push(r!.f);
    }
    for (const f of formatted) expect(f).toMatch(/ ON CLUSTER pospulse_cluster\b/);
    const starting = (prefix: string) => formatted.find((f) => f.startsWith(prefix))!;
    for (const table of ['terminal_status', 'terminal_status_latest']) {
      expect(starting(`CREATE TABLE IF NOT EXISTS pospulse.${table}_local `)).toContain(
        `ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/${table}_local', '{replica}'`,
      );
      expect(starting(`CREATE TABLE IF NOT EXISTS pospulse.${table} `)).toContain(
        `ENGINE = Distributed('pospulse_cluster', 'pospulse', '${table}_local', cityHash64(terminal_serial))`,
      );
    }
    expect(starting('CREATE TABLE IF NOT EXISTS pospulse.terminal_status_latest_local ')).toContain(
      "'{replica}', version)",
    );
    const view = starting('CREATE MATERIALIZED VIEW IF NOT EXISTS pospulse.terminal_status_latest_mv_local');
    expect(view).toContain('TO pospulse.terminal_status_latest_local');
    expect(view).toContain('FROM pospulse.terminal_status_local');
  });
});
