import type { Kafka } from 'kafkajs';
import type { AvroCodec } from '../../../services/shared/avro/codec.ts';
import type { Store } from '../../../services/shared/clickhouse/store.ts';
import type { EventProducer } from '../../../services/shared/kafka/producer.ts';
import type { TopicNames } from '../../../services/shared/kafka/topics.ts';
import type { Logger } from '../../../services/shared/logger.ts';
import { createMetricsRegistry, type Registry } from '../../../services/shared/metrics.ts';
import { parseProcessorConfig } from '../../../services/processor/config.ts';
import { Processor, type ProcessorOptions } from '../../../services/processor/processor.ts';
import { RulesSource } from '../../../services/processor/detection/rules-file.ts';
import { RULE_DEFINITIONS } from '../../../services/processor/detection/rules/index.ts';
import { processorTables } from '../../../services/processor/tables.ts';
import type { KpiDefinitionsSource } from '../../../services/processor/kpi-definitions-source.ts';

/** The service's defaults with quick fetches; `overrides` as the test needs. */
export function testProcessorOptions(
  groupId: string,
  overrides: Partial<ProcessorOptions> = {},
): ProcessorOptions {
  const defaults = parseProcessorConfig({ PROCESSOR_METRICS_TOKEN: 'unused-in-tests' });
  return { ...defaults, groupId, fetchMinBytes: 1, fetchMaxWaitMs: 200, tickIntervalMs: 500, ...overrides };
}

export interface TestProcessorDeps {
  kafka: Kafka;
  codec: AvroCodec;
  store: Store;
  producer: EventProducer;
  topics: TopicNames;
  db: string;
  logger: Logger;
}

/** A Processor over the test's topics and database, with a registry of its own. */
export function testProcessor(
  deps: TestProcessorDeps,
  groupId: string,
  overrides: Partial<ProcessorOptions> = {},
  extra: {
    clock?: () => number;
    metrics?: Registry;
    rules?: RulesSource;
    definitions?: KpiDefinitionsSource;
  } = {},
): Processor {
  const { db, ...rest } = deps;
  return new Processor(
    {
      ...rest,
      tables: processorTables(db),
      metrics: extra.metrics ?? createMetricsRegistry('processor', false),
      rules: extra.rules ?? RulesSource.defaults(RULE_DEFINITIONS, deps.logger),
      ...(extra.clock ? { clock: extra.clock } : {}),
      ...(extra.definitions ? { definitions: extra.definitions } : {}),
    },
    testProcessorOptions(groupId, overrides),
  );
}
