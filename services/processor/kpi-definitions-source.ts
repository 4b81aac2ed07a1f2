import type { Store } from '../shared/clickhouse/store.ts';
import { DefinitionsTable } from '../shared/kpi/definitions-table.ts';
import type { KpiDefinition } from '../shared/kpi/definitions.ts';
import type { Logger } from '../shared/logger.ts';
import { counter, type Registry } from '../shared/metrics.ts';

/**
 * The KPI definitions the api stores in `kpi_definitions`, read again every `refreshMs`. A failed
 * read keeps the previous list (thresholds keep being judged while ClickHouse hiccups) and is
 * logged; a stored definition that no longer passes the checks is logged once and left out.
 */
export class KpiDefinitionsSource {
  private list: readonly KpiDefinition[] = [];
  private lastRead = -Infinity;
  private readonly reported = new Set<string>();
  private readonly table: DefinitionsTable;
  private readonly reads;

  constructor(
    store: Pick<Store, 'query' | 'insert'>,
    tableName: string,
    private readonly refreshMs: number,
    private readonly logger: Logger,
    metrics: Registry,
  ) {
    this.table = new DefinitionsTable(store, tableName);
    this.reads = counter(
      metrics,
      'pospulse_processor_kpi_definitions_reads_total',
      'Reads of kpi_definitions, by outcome.',
      ['outcome'],
    );
  }

  get current(): readonly KpiDefinition[] {
    return this.list;
  }

  /** Reads the table if `refreshMs` has passed since the last read (at `now`). */
  async refreshIfDue(now: number): Promise<void> {
    if (now - this.lastRead < this.refreshMs) return;
    this.lastRead = now;
    await this.refresh();
  }

  async refresh(): Promise<void> {
    try {
      const stored = await this.table.list((name, problems) => {
        if (this.reported.has(`${name}\u0000${problems}`)) return;
        this.reported.add(`${name}\u0000${problems}`);
        this.logger.warn({ definition: name, problems }, 'stored KPI definition is not valid: not judged');
      });
      const next = [...stored.values()].map((s) => s.definition);
      const names = (l: readonly KpiDefinition[]) => l.map((d) => `${d.name}:${JSON.stringify(d)}`).join();
      if (names(next) !== names(this.list))
        this.logger.info({ definitions: next.map((d) => d.name) }, 'KPI definitions loaded');
      this.list = next;
      this.reads.inc({ outcome: 'ok' }, 1);
    } catch (err) {
      this.reads.inc({ outcome: 'error' }, 1);
      this.logger.warn({ err }, 'kpi_definitions could not be read: the previous definitions stay');
    }
  }
}
