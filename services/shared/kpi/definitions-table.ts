import type { Store } from '../clickhouse/store.ts';
import { checkDefinition, specOf, type KpiDefinition } from './definitions.ts';

/** A stored definition with its revision (the row's version). */
export interface StoredDefinition {
  readonly definition: KpiDefinition;
  readonly revision: string;
  readonly updatedBy: string;
  readonly updatedTime: number;
}

interface Row {
  name: string;
  definition: string;
  version: string | number;
  updated_by: string;
  updated_time: string | number;
}

/**
 * The `kpi_definitions` table: the api writes one row per change, everyone reads the newest
 * version per name (FINAL) without the tombstones.
 */
export class DefinitionsTable {
  constructor(
    private readonly store: Pick<Store, 'query' | 'insert'>,
    private readonly table: string,
    private readonly clock: () => number = Date.now,
  ) {}

  /**
   * The current definitions by name. A stored one that no longer passes the checks (a base metric
   * renamed by an upgrade) is handed to `onInvalid` and left out rather than failing every read.
   */
  async list(onInvalid?: (name: string, problems: string) => void): Promise<Map<string, StoredDefinition>> {
    return this.read('', {}, onInvalid);
  }

  async get(name: string): Promise<StoredDefinition | undefined> {
    return (await this.read('AND name = {name:String}', { name })).get(name);
  }

  /**
   * Writes a new revision (or a tombstone). The version is the clock in microseconds, kept above
   * `previous` so a change always wins over the row it replaces, even with a clock step back.
   */
  async write(
    d: KpiDefinition,
    by: string,
    previous: string | undefined,
    deleted = false,
  ): Promise<StoredDefinition> {
    const now = this.clock();
    const floor = previous === undefined ? 0n : BigInt(previous) + 1n;
    const micros = BigInt(now) * 1000n;
    const version = (micros > floor ? micros : floor).toString();
    await this.store.insert(this.table, [
      {
        name: d.name,
        definition: JSON.stringify(specOf(d)),
        deleted: deleted ? 1 : 0,
        version,
        updated_by: by,
        updated_time: now,
      },
    ]);
    return { definition: d, revision: version, updatedBy: by, updatedTime: now };
  }

  private async read(
    where: string,
    params: Record<string, unknown>,
    onInvalid?: (name: string, problems: string) => void,
  ): Promise<Map<string, StoredDefinition>> {
    const rows = await this.store.query<Row>(
      `SELECT name, definition, version, updated_by, toUnixTimestamp64Milli(updated_time) AS updated_time
       FROM ${this.table} FINAL WHERE deleted = 0 ${where} ORDER BY name`,
      params,
    );
    const out = new Map<string, StoredDefinition>();
    for (const r of rows) {
      let raw: unknown;
      try {
        raw = JSON.parse(r.definition);
      } catch (err) {
        onInvalid?.(r.name, `not JSON: ${(err as Error).message}`);
        continue;
      }
      const checked = checkDefinition(raw, []);
      if (!checked.ok) {
        onInvalid?.(r.name, checked.problems.map((p) => `${p.field} ${p.message}`).join('; '));
        continue;
      }
      out.set(r.name, {
        definition: checked.definition,
        revision: String(r.version),
        updatedBy: r.updated_by,
        updatedTime: Number(r.updated_time),
      });
    }
    return out;
  }
}
