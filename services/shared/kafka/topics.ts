import type { Admin, ITopicConfig } from 'kafkajs';
import type { SchemaName } from '../avro/types.generated.ts';
import { KafkaError } from '../errors.ts';
import type { Logger } from '../logger.ts';

const DAY_MS = 86_400_000;

/** What a topic is for and how the broker should keep it. The single list of pospulse topics. */
export interface TopicSpec {
  /** Name without the deployment's prefix. */
  readonly name: string;
  readonly doc: string;
  /** Key → ordering guarantee. */
  readonly key: string;
  /** Avro record in the value; absent for topics that carry raw bytes. */
  readonly schema?: SchemaName;
  /** Partitions relative to the configured default (status and alerts need fewer). */
  readonly partitionShare: 'full' | 'small';
  readonly config: Readonly<Record<string, string>>;
}

export const TOPICS = {
  transactions: {
    name: 'transactions',
    doc: 'One TransactionEvent per authorization attempt, from the gateways.',
    key: 'terminal serial (per-terminal order)',
    schema: 'TransactionEvent',
    partitionShare: 'full',
    config: {
      'cleanup.policy': 'delete',
      'retention.ms': String(7 * DAY_MS),
      'compression.type': 'producer',
    },
  },
  heartbeats: {
    name: 'heartbeats',
    doc: 'TerminalHeartbeat records, from the gateways.',
    key: 'terminal serial',
    schema: 'TerminalHeartbeat',
    partitionShare: 'full',
    config: {
      'cleanup.policy': 'delete',
      'retention.ms': String(3 * DAY_MS),
      'compression.type': 'producer',
    },
  },
  cardActivity: {
    name: 'card-activity',
    doc:
      'The processor republishes every new transaction that carries a card token here, unchanged, keyed by ' +
      'the token: the card stage of the instance owning partition p sees all of a card’s attempts, whatever ' +
      'terminal and transactions partition they came from. At-least-once (repeats after a crash; readers ' +
      'deduplicate on event_id).',
    key: 'card token (per-card order as the processor republished)',
    schema: 'TransactionEvent',
    partitionShare: 'full',
    // Card state lives minutes to hours; two days leave room to reprocess after an outage.
    config: {
      'cleanup.policy': 'delete',
      'retention.ms': String(2 * DAY_MS),
      'compression.type': 'producer',
    },
  },
  terminalStatus: {
    name: 'terminal-status',
    doc: 'Latest status of every terminal; compacted so a reader rebuilds the fleet from it.',
    key: 'terminal serial (latest value wins)',
    schema: 'TerminalStatus',
    partitionShare: 'full',
    config: {
      'cleanup.policy': 'compact',
      'min.compaction.lag.ms': '60000',
      'segment.ms': String(DAY_MS),
      'delete.retention.ms': String(DAY_MS),
    },
  },
  kpiUpdates: {
    name: 'kpi-updates',
    doc: 'KpiUpdate per entity and window, each time a window changes.',
    key: 'entity level + id',
    schema: 'KpiUpdate',
    partitionShare: 'full',
    config: { 'cleanup.policy': 'delete', 'retention.ms': String(2 * DAY_MS) },
  },
  alerts: {
    name: 'alerts',
    doc: 'Alert state changes (firing, resolved) from detection rules and KPI thresholds.',
    key: 'rule + entity',
    schema: 'Alert',
    partitionShare: 'small',
    config: { 'cleanup.policy': 'delete', 'retention.ms': String(30 * DAY_MS) },
  },
  deadLetter: {
    name: 'dead-letter',
    doc: 'Records a consumer could not decode, as the original bytes with headers naming source and error.',
    key: 'original key',
    partitionShare: 'small',
    config: { 'cleanup.policy': 'delete', 'retention.ms': String(30 * DAY_MS) },
  },
} as const satisfies Record<string, TopicSpec>;

export type TopicKey = keyof typeof TOPICS;
export type TopicNames = { readonly [K in TopicKey]: string };

export function topicNames(prefix: string): TopicNames {
  const out = {} as Record<TopicKey, string>;
  for (const key of Object.keys(TOPICS) as TopicKey[]) out[key] = `${prefix}${TOPICS[key].name}`;
  return Object.freeze(out);
}

export interface TopicLayout {
  prefix: string;
  partitions: number;
  replicationFactor: number;
}

function partitionsOf(spec: TopicSpec, layout: TopicLayout): number {
  return spec.partitionShare === 'full' ? layout.partitions : Math.max(1, Math.ceil(layout.partitions / 3));
}

export interface EnsureTopicsReport {
  created: string[];
  existing: string[];
  /** Existing topics whose partition count differs from the layout; left as they are. */
  mismatched: { topic: string; partitions: number; wanted: number }[];
}

/**
 * Creates every missing pospulse topic; existing ones are left alone (changing the partition
 * count of a keyed topic would break per-terminal ordering, so a mismatch is only reported).
 * Safe to call from every service at start-up, concurrently.
 */
export async function ensureTopics(
  admin: Admin,
  layout: TopicLayout,
  logger?: Logger,
): Promise<EnsureTopicsReport> {
  const names = topicNames(layout.prefix);
  const specs = (Object.keys(TOPICS) as TopicKey[]).map((k) => ({
    name: names[k],
    spec: TOPICS[k] as TopicSpec,
  }));
  try {
    const present = new Set(await admin.listTopics());
    const missing: ITopicConfig[] = specs
      .filter(({ name }) => !present.has(name))
      .map(({ name, spec }) => ({
        topic: name,
        numPartitions: partitionsOf(spec, layout),
        replicationFactor: layout.replicationFactor,
        configEntries: Object.entries(spec.config).map(([n, value]) => ({ name: n, value })),
      }));
    if (missing.length > 0) {
      // Another service may create the same topics at the same moment; kafkajs then reports
      // TOPIC_ALREADY_EXISTS, which is success for us.
      await admin.createTopics({ topics: missing, waitForLeaders: true }).catch((err: unknown) => {
        if ((err as { type?: string }).type !== 'TOPIC_ALREADY_EXISTS') throw err;
      });
    }
    const meta = await admin.fetchTopicMetadata({ topics: specs.map((s) => s.name) });
    const report: EnsureTopicsReport = {
      created: missing.map((m) => m.topic),
      existing: specs.map((s) => s.name).filter((n) => present.has(n)),
      mismatched: [],
    };
    for (const t of meta.topics) {
      const spec = specs.find((s) => s.name === t.name)?.spec;
      if (spec && t.partitions.length !== partitionsOf(spec, layout))
        report.mismatched.push({
          topic: t.name,
          partitions: t.partitions.length,
          wanted: partitionsOf(spec, layout),
        });
    }
    if (report.mismatched.length > 0)
      logger?.warn({ mismatched: report.mismatched }, 'topic partition counts differ from the layout');
    if (report.created.length > 0) logger?.info({ created: report.created }, 'created topics');
    return report;
  } catch (err) {
    throw new KafkaError(`could not ensure topics with prefix ${layout.prefix}: ${(err as Error).message}`, {
      cause: err,
      retryable: true,
    });
  }
}
