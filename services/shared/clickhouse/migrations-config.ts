import { optionalStr, parseConfig, parseDuration, type Env, type Var } from '../config.ts';
import { ConfigError } from '../errors.ts';

const DAY_MS = 86_400_000;
const MAX_TTL_DAYS = 36_500;

/**
 * A retention in whole days, written like the other durations (`90d`, `2160h`). Whole days because
 * the raw tables are partitioned by day and expire a partition at a time (see docs/CLICKHOUSE.md):
 * a finer TTL would only pretend to be more precise.
 */
function days(opts: { key: string; doc: string; default: number }): Var<number> {
  const expected = `a whole number of days like 90d (1d to ${MAX_TTL_DAYS}d)`;
  return {
    key: opts.key,
    doc: opts.doc,
    defaultText: `${opts.default}d`,
    parse(env) {
      const raw = env[opts.key];
      if (raw === undefined || raw.trim() === '') return opts.default;
      const ms = parseDuration(raw);
      const n = ms === undefined ? NaN : ms / DAY_MS;
      if (!Number.isInteger(n) || n < 1 || n > MAX_TTL_DAYS) throw new ConfigError(opts.key, raw, expected);
      return n;
    },
  };
}

export const migrationsSpec = {
  cluster: optionalStr({
    key: 'CLICKHOUSE_CLUSTER',
    doc: 'ClickHouse cluster name (from remote_servers). Set: migrations create Replicated `…_local` tables ON CLUSTER plus Distributed tables under the plain names; the servers need Keeper and the {shard}/{replica} macros. Unset: single-node tables.',
    pattern: /^[A-Za-z_][A-Za-z0-9_.-]*$/,
  }),
  /**
   * Rendered into the TTL clause of the raw tables when a migration creates them; changing it later
   * does not touch existing tables. To change the retention of a running deployment, alter it:
   * `ALTER TABLE pospulse.transactions MODIFY TTL toDate(request_time) + INTERVAL 30 DAY`
   * (cluster: `ALTER TABLE pospulse.transactions_local ON CLUSTER '<name>' MODIFY TTL …`), or add a
   * migration doing so, and set this variable to the same value so new environments match.
   * @default 90d
   */
  rawTtlDays: days({
    key: 'CLICKHOUSE_RAW_TTL',
    doc: 'Retention of raw event rows (transactions, terminal_heartbeats), in whole days (e.g. 90d). Applied when a migration creates the tables; change it later with ALTER TABLE … MODIFY TTL (docs/CLICKHOUSE.md).',
    default: 90,
  }),
} as const;

export type MigrationsConfig = ReturnType<typeof parseMigrationsConfig>;

export function parseMigrationsConfig(env: Env) {
  return parseConfig(migrationsSpec, env);
}
