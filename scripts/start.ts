import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { formatLine } from './stack/log-lines.ts';
import { startStack } from './stack/stack.ts';

// `npm start`: the whole pipeline on this machine (README "Quick start"). Ctrl-C stops it all.
const root = join(import.meta.dirname, '..');
let args;
try {
  args = parseArgs({
    options: {
      'no-simulator': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  }).values;
} catch (err) {
  process.stderr.write(`${(err as Error).message}\nusage: npm start [-- --no-simulator]\n`);
  process.exit(2);
}
if (args.help) {
  process.stdout.write(
    'usage: npm start [-- --no-simulator]\n' +
      'Starts Kafka (unless KAFKA_BROKERS), the store (unless CLICKHOUSE_URL), the gateway, processor,\n' +
      'live and api services and the simulator; data in POSPULSE_DATA_DIR (default ./data).\n',
  );
  process.exit(0);
}

const style = { nameWidth: 9, colour: process.stdout.isTTY === true };
const out = (name: string, line: string) => process.stdout.write(`${formatLine(name, line, style)}\n`);
const dataDir = process.env['POSPULSE_DATA_DIR'] || join(root, 'data');

let stopping: Promise<void> | undefined;
let stopStack: (() => Promise<void>) | undefined;
/** A signal that came while starting: the stack stops as soon as it is up (nothing left behind). */
let stopWhenUp = false;
const shutdown = (signal: string) => {
  if (stopping !== undefined || stopWhenUp) {
    out('stack', `${signal} again: still stopping cleanly, please wait`);
    return;
  }
  if (stopStack === undefined) {
    out('stack', `${signal}: stopping once what is starting is up`);
    stopWhenUp = true;
    return;
  }
  out('stack', `${signal}: stopping every service`);
  stopping = stopStack().then(() => process.exit(0));
};
process.on('SIGINT', () => shutdown('SIGINT'));
process.on('SIGTERM', () => shutdown('SIGTERM'));

try {
  const stack = await startStack({ root, dataDir, simulator: !args['no-simulator'], env: process.env, out });
  stopStack = stack.stop;
  if (stopWhenUp) {
    // Ctrl-C came while starting: stop what came up.
    await stack.stop();
    process.exit(0);
  }
  const c = stack.secrets;
  const lines = [
    '',
    'pospulse is running. Ctrl-C stops everything.',
    '',
    `  Wall display      ${stack.urls['wall']}`,
    `  KPI API           ${stack.urls['api']}   (Authorization: Bearer <API key>)`,
    `  API docs          ${stack.urls['api_docs']}`,
    `  ClickHouse (SQL)  ${stack.urls['clickhouse']}   (analyst: ${c.clickhouse.analyst.user} / ${c.clickhouse.analyst.password})`,
    `  Gateway           ${stack.urls['gateway']}   (ISO 8583 ${stack.urls['gateway_iso8583']})`,
    '',
    `  API keys          admin ${c.apiKeys.admin}`,
    `                    analyst ${c.apiKeys.analyst}`,
    `                    viewer ${c.apiKeys.viewer}`,
    `  Gateway key       ${c.gatewayKey}`,
    '',
    `  Written to ${join(dataDir, 'demo.json')} (readable by you only). npm run reset wipes ${dataDir}.`,
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
} catch (err) {
  out('stack', `could not start: ${(err as Error).message}`);
  process.exit(1);
}
