import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseAvroCodecConfig } from '../shared/avro/config.ts';
import { createAvroCodec } from '../shared/avro/codec.ts';
import { isPosPulseError } from '../shared/errors.ts';
import { createKafka } from '../shared/kafka/client.ts';
import { parseKafkaConfig } from '../shared/kafka/config.ts';
import { EventProducer } from '../shared/kafka/producer.ts';
import { ensureTopics, topicNames } from '../shared/kafka/topics.ts';
import { createLogger, parseLoggingConfig } from '../shared/logger.ts';
import { USAGE, parseSimulatorConfig, simulatedWindow, type SimulatorConfig } from './config.ts';
import { buildFleet } from './fleet.ts';
import { HttpSink } from './http-sink.ts';
import type { IncidentSpec } from './incidents.ts';
import { IsoSink } from './iso-sink.ts';
import { KafkaSink } from './kafka-sink.ts';
import { writeLabelFile } from './labels.ts';
import { DEFAULT_MIX, parseMix, type Mix } from './mix.ts';
import { formatProgress, formatSummary } from './progress.ts';
import { writeTerminalRegistry } from './registry.ts';
import { runSimulation } from './runner.ts';
import { parseOnDemand, parseScheduleText } from './schedule.ts';
import { Simulator } from './simulator.ts';
import type { Sink } from './sink.ts';

/**
 * `npm run simulate`: reads the configuration (env + flags), builds the simulator and its sink,
 * runs, and exits 0 when every event was delivered (3 when some were rejected or lost, 2 for a bad
 * configuration, 1 when the run could not go on). SIGTERM/SIGINT stop it after flushing.
 */

process.env['KAFKAJS_NO_PARTITIONER_WARNING'] ??= '1';

function say(line: string): void {
  process.stderr.write(`${line}\n`);
}

function fatal(message: string, code: number): never {
  say(`[simulator] ${message}`);
  process.exit(code);
}

function describe(err: unknown): string {
  return isPosPulseError(err)
    ? `${err.code}: ${err.message}`
    : err instanceof Error
      ? err.message
      : String(err);
}

let config: SimulatorConfig;
try {
  config = parseSimulatorConfig(process.env, process.argv.slice(2));
} catch (err) {
  fatal(describe(err), 2);
}
if (config.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const logger = createLogger({ service: 'simulator', ...parseLoggingConfig(process.env) });

const fleetOptions = {
  terminals: config.terminals,
  merchants: config.merchants,
  regions: config.regions,
  acquirers: config.acquirers,
  cards: config.cards,
};

if (config.writeRegistry !== undefined) {
  try {
    const fleet = buildFleet({ seed: config.seed, ...fleetOptions });
    writeTerminalRegistry(config.writeRegistry, fleet);
    say(
      `[simulator] wrote the terminal registry of ${fleet.terminals.length} terminals to ${config.writeRegistry} (GATEWAY_TERMINALS_FILE)`,
    );
    process.exit(0);
  } catch (err) {
    fatal(`cannot write the terminal registry: ${describe(err)}`, 2);
  }
}

let mix: Mix = DEFAULT_MIX;
if (config.mixFile !== undefined) {
  try {
    mix = parseMix(JSON.parse(readFileSync(config.mixFile, 'utf8')));
  } catch (err) {
    fatal(`SIMULATOR_MIX_FILE=${config.mixFile}: ${describe(err)}`, 2);
  }
}

const window = simulatedWindow(config, Date.now());
let incidents: 'auto' | 'none' | IncidentSpec[];
if (config.incidents === 'auto' || config.incidents === 'none') incidents = config.incidents;
else {
  try {
    incidents = parseScheduleText(readFileSync(config.incidents, 'utf8'), window, config.incidents);
  } catch (err) {
    fatal(`SIMULATOR_INCIDENTS=${config.incidents}: ${describe(err)}`, 2);
  }
}

let sim: Simulator;
try {
  sim = new Simulator({
    seed: config.seed,
    fleet: fleetOptions,
    rate: config.rate,
    heartbeatIntervalMs: config.heartbeatIntervalMs,
    start: window.start,
    end: window.end,
    incidents,
    autoSchedule: { meanGapMs: config.incidentGapMs },
    tokenKeys: config.tokenKeys,
    mix,
  });
  for (const text of config.inject) sim.inject(parseOnDemand(text, window.start));
} catch (err) {
  fatal(describe(err), 2);
}

const labelsPath = config.labels;
const saveLabels = (labels = sim.labels) => {
  if (labelsPath === undefined) return;
  try {
    writeLabelFile(labelsPath, labels);
  } catch (err) {
    say(`[simulator] cannot write the label file ${labelsPath}: ${describe(err)}`);
  }
};
saveLabels();
sim.onIncident = (incident) => {
  say(`[simulator] incident ${incident.id} from ${incident.label.start} to ${incident.label.end}`);
  saveLabels();
};

async function openSink(c: SimulatorConfig): Promise<Sink> {
  switch (c.sink) {
    case 'http':
      return new HttpSink({
        url: c.gatewayUrl,
        apiKey: c.apiKey as string,
        format: c.httpFormat,
        batchSize: c.batch,
      });
    case 'iso': {
      const sink = new IsoSink({ host: c.isoHost, port: c.isoPort, bitmap: c.isoBitmap });
      await sink.connect();
      return sink;
    }
    case 'kafka': {
      const kafkaConfig = parseKafkaConfig(process.env);
      const kafka = createKafka(kafkaConfig, logger);
      const producer = new EventProducer(kafka, createAvroCodec(parseAvroCodecConfig(process.env)), logger, {
        compression: kafkaConfig.compression,
      });
      const admin = kafka.admin();
      await admin.connect();
      try {
        await ensureTopics(admin, {
          prefix: kafkaConfig.topicPrefix,
          partitions: kafkaConfig.partitions,
          replicationFactor: kafkaConfig.replicationFactor,
        });
      } finally {
        await admin.disconnect();
      }
      await producer.connect();
      return new KafkaSink({
        producer,
        topics: topicNames(kafkaConfig.topicPrefix),
        tokenKeys: c.tokenKeys!,
        gatewayId: c.gatewayId,
        batchSize: c.batch,
        onClose: () => producer.disconnect(),
      });
    }
  }
}

let sink: Sink;
try {
  sink = await openSink(config);
} catch (err) {
  fatal(`cannot open the ${config.sink} sink: ${describe(err)}`, 1);
}

const stop = new AbortController();
let signals = 0;
const onSignal = (signal: string) => {
  signals++;
  if (signals > 1) fatal(`${signal} again: exiting without flushing`, 130);
  say(`[simulator] ${signal}: stopping after sending what was generated`);
  stop.abort();
};
process.on('SIGTERM', () => onSignal('SIGTERM'));
process.on('SIGINT', () => onSignal('SIGINT'));

// Incidents on demand while running: a line "inject <spec>" on standard input.
if (!config.backfill) {
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    const m = /^\s*inject\s+(\S+)\s*$/.exec(line);
    if (m === null) {
      if (line.trim() !== '')
        say('[simulator] commands: inject kind[@+offset][/duration][,target=id][,param=n]');
      return;
    }
    try {
      sim.inject(parseOnDemand(m[1] as string, sim.position));
    } catch (err) {
      say(`[simulator] ${describe(err)}`);
    }
  });
  stop.signal.addEventListener('abort', () => rl.close());
}

logger.info(
  {
    seed: config.seed,
    terminals: sim.fleet.terminals.length,
    merchants: sim.fleet.merchants.length,
    sink: config.sink,
    start: new Date(window.start).toISOString(),
    end: Number.isFinite(window.end) ? new Date(window.end).toISOString() : null,
    incidents: sim.incidents.length,
  },
  'simulator starting',
);

let exitCode = 0;
try {
  const report = await runSimulation(sim, sink, {
    pace: config.backfill ? 'backfill' : 'realtime',
    speed: config.speed,
    batchSize: config.batch,
    signal: stop.signal,
    progressIntervalMs: config.progressIntervalMs,
    onProgress: (p) => say(formatProgress(p)),
  });
  saveLabels(report.labels);
  await sink.close();
  // Closing delivers what was still in flight (ISO 8583 responses waiting for their latency).
  const final = { ...report, sink: sink.stats() };
  say(formatSummary(final, config.sink));
  logger.info(
    {
      from: new Date(report.from).toISOString(),
      to: new Date(report.to).toISOString(),
      stoppedEarly: report.stoppedEarly,
      sent: final.sink.sent,
      accepted: final.sink.accepted,
      duplicates: final.sink.duplicates,
      rejected: final.sink.rejected,
      failed: final.sink.failed,
      incidents: report.labels.length,
    },
    'simulator finished',
  );
  if (final.sink.failed > 0 || final.sink.rejected > 0) exitCode = 3;
} catch (err) {
  saveLabels(sim.labelsUntil(sim.position));
  await sink.close().catch(() => undefined);
  say(`[simulator] stopped: ${describe(err)}`);
  exitCode = 1;
}
process.exit(exitCode);
