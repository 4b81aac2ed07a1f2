import { spawn } from 'node:child_process';
import { mkdir, open, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { sha256Hex } from '../../services/api/auth.ts';
import { buildWall } from '../../services/live/wall/build.ts';
import { hashKey } from '../../services/gateway/api-keys.ts';
import { newSecrets, readSecrets, writeDemoFile, type DemoSecrets } from './demo-secrets.ts';
import { forEachLine, runningPid } from './processes.ts';
import { Supervisor, type ChildSpec } from './supervisor.ts';

export interface StackOptions {
  /** Repository root (where services/ and infra/ are). */
  root: string;
  /** Everything the stack keeps between runs: demo.json, the broker's and the store's data. */
  dataDir: string;
  simulator: boolean;
  /** The environment the stack was started with (ports, KAFKA_BROKERS, CLICKHOUSE_URL, knobs). */
  env: NodeJS.ProcessEnv;
  out: (name: string, line: string) => void;
}

/** The stack's ports: the variable each service (or the broker) reads, and its default. */
export const STACK_PORTS = {
  gateway: ['GATEWAY_PORT', 8080],
  iso: ['GATEWAY_ISO_PORT', 8583],
  processor: ['PROCESSOR_PORT', 8081],
  api: ['API_PORT', 8070],
  store: ['STORE_PORT', 8124],
  live: ['LIVE_PORT', 8090],
  kafka: ['KAFKA_PORT', 9092],
  kafkaController: ['KAFKA_CONTROLLER_PORT', 9093],
} as const;

/** Ports of the one-machine stack: each from its service's own variable, else the default. */
export function stackPorts(env: NodeJS.ProcessEnv): Record<keyof typeof STACK_PORTS, number> {
  const port = ([key, dflt]: readonly [string, number]): number => {
    const raw = env[key];
    if (raw === undefined || raw === '') return dflt;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1 || n > 65_535)
      throw new Error(`${key} must be a port (1-65535), got "${raw}"`);
    return n;
  };
  const out = {} as Record<keyof typeof STACK_PORTS, number>;
  for (const [name, spec] of Object.entries(STACK_PORTS)) out[name as keyof typeof STACK_PORTS] = port(spec);
  return out;
}

export interface RunningStack {
  urls: Record<string, string>;
  secrets: DemoSecrets;
  supervisor: Supervisor;
  /** Stops the services, the store and the broker this stack started. */
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';

/**
 * Brings up the whole pipeline on this machine, as `npm start` does: the Kafka broker (unless
 * KAFKA_BROKERS names one), the store (unless CLICKHOUSE_URL names a server), the migrations and
 * topics, then the processor, gateway, live and api services and the simulator, each supervised.
 * Returns once every service answers `/readyz`; `demo.json` then holds the URLs and credentials.
 */
export async function startStack(o: StackOptions): Promise<RunningStack> {
  const dataDir = resolve(o.dataDir);
  await mkdir(dataDir, { recursive: true });
  const lock = await takeLock(join(dataDir, 'stack.pid'));
  const demoPath = join(dataDir, 'demo.json');
  const secrets = (await readSecrets(demoPath)) ?? newSecrets();
  const ports = stackPorts(o.env);
  const supervisor = new Supervisor({ cwd: o.root, out: o.out });
  let kafkaStarted = false;
  const kafkaEnv = {
    ...o.env,
    KAFKA_DATA_DIR: join(dataDir, 'kafka'),
    KAFKA_PORT: String(ports.kafka),
    KAFKA_CONTROLLER_PORT: String(ports.kafkaController),
  };
  const stop = async () => {
    o.out('stack', 'stopping');
    await supervisor.stop();
    if (kafkaStarted) await runScript(o, 'kafka', 'bash', [join(o.root, 'infra/kafka/stop.sh')], kafkaEnv);
    await lock.release();
    o.out('stack', 'stopped');
  };
  try {
    const brokers = o.env['KAFKA_BROKERS'] || `${HOST}:${ports.kafka}`;
    if (!o.env['KAFKA_BROKERS']) {
      o.out('stack', `starting Kafka on ${brokers} (data in ${kafkaEnv.KAFKA_DATA_DIR})`);
      kafkaStarted = true;
      await runScript(o, 'kafka', 'bash', [join(o.root, 'infra/kafka/start.sh')], kafkaEnv);
    }
    const ownStore = !o.env['CLICKHOUSE_URL'];
    const clickhouseUrl = o.env['CLICKHOUSE_URL'] || `http://${HOST}:${ports.store}`;
    const shared: NodeJS.ProcessEnv = {
      ...o.env,
      KAFKA_BROKERS: brokers,
      CLICKHOUSE_URL: clickhouseUrl,
      ...(ownStore
        ? {
            CLICKHOUSE_USER: secrets.clickhouse.service.user,
            CLICKHOUSE_PASSWORD: secrets.clickhouse.service.password,
          }
        : {}),
    };
    const ready = (port: number) => new URL(`http://${HOST}:${port}/readyz`);
    const service = (name: string, env: NodeJS.ProcessEnv, readyUrl?: URL): ChildSpec => ({
      name,
      entry: `services/${name}/main.ts`,
      env: { ...shared, ...env },
      ...(readyUrl === undefined ? {} : { readyUrl }),
    });

    if (ownStore) {
      supervisor.start(
        service(
          'store',
          {
            STORE_HOST: HOST,
            STORE_PORT: String(ports.store),
            STORE_DATA_DIR: join(dataDir, 'clickhouse'),
            STORE_USERS: JSON.stringify([
              {
                name: secrets.clickhouse.service.user,
                password: secrets.clickhouse.service.password,
                role: 'service',
              },
              {
                name: secrets.clickhouse.analyst.user,
                password: secrets.clickhouse.analyst.password,
                role: 'analyst',
              },
            ]),
          },
          ready(ports.store),
        ),
      );
      await supervisor.waitReady('store', 180_000);
    }
    await runScript(
      o,
      'migrate',
      process.execPath,
      ['--import', 'tsx', 'services/shared/clickhouse/migrate-cli.ts'],
      shared,
    );
    await runScript(
      o,
      'topics',
      process.execPath,
      ['--import', 'tsx', 'services/shared/kafka/create-topics-cli.ts'],
      shared,
    );
    // The wall page is bundled from TypeScript (esbuild, under a second): a clean clone has none,
    // and a checkout's may be older than its sources.
    const wallDir = o.env['LIVE_WALL_DIR'] || (await buildWall(join(dataDir, 'wall')));

    const tokenKeys = { GATEWAY_TOKEN_KEYS: secrets.tokenKey };
    supervisor.start(
      service(
        'processor',
        {
          PROCESSOR_HOST: HOST,
          PROCESSOR_PORT: String(ports.processor),
          PROCESSOR_METRICS_TOKEN: secrets.metricsToken,
        },
        ready(ports.processor),
      ),
    );
    supervisor.start(
      service(
        'gateway',
        {
          ...tokenKeys,
          GATEWAY_HOST: HOST,
          GATEWAY_PORT: String(ports.gateway),
          GATEWAY_ISO_HOST: HOST,
          GATEWAY_ISO_PORT: String(ports.iso),
          GATEWAY_API_KEYS: JSON.stringify([
            { id: 'simulator', key_sha256: hashKey(secrets.gatewayKey), merchants: ['*'], metrics: true },
          ]),
        },
        ready(ports.gateway),
      ),
    );
    supervisor.start(
      service(
        'live',
        {
          LIVE_HOST: HOST,
          LIVE_PORT: String(ports.live),
          LIVE_TOKENS: secrets.liveToken,
          LIVE_WALL_DIR: wallDir,
        },
        ready(ports.live),
      ),
    );
    supervisor.start(
      service(
        'api',
        {
          API_HOST: HOST,
          API_PORT: String(ports.api),
          API_SECRETS_KEY: secrets.apiSecretsKey,
          // The one api instance here delivers the webhooks.
          API_WEBHOOKS: o.env['API_WEBHOOKS'] ?? 'true',
          API_KEYS: JSON.stringify(
            (['admin', 'analyst', 'viewer'] as const).map((role) => ({
              id: `demo-${role}`,
              key_sha256: sha256Hex(secrets.apiKeys[role]),
              role,
            })),
          ),
        },
        ready(ports.api),
      ),
    );
    for (const name of ['processor', 'gateway', 'live', 'api']) await supervisor.waitReady(name, 180_000);

    if (o.simulator) {
      supervisor.start({
        ...service('simulator', {
          ...tokenKeys,
          SIMULATOR_SINK: 'http',
          SIMULATOR_GATEWAY_URL: `http://${HOST}:${ports.gateway}`,
          SIMULATOR_API_KEY: secrets.gatewayKey,
          // Runs until stopped, at the wall clock; a progress line a minute is enough next to the others.
          SIMULATOR_DURATION: o.env['SIMULATOR_DURATION'] ?? '0',
          SIMULATOR_PROGRESS_INTERVAL: o.env['SIMULATOR_PROGRESS_INTERVAL'] ?? '60s',
        }),
      });
    }

    const urls: Record<string, string> = {
      wall: `http://${HOST}:${ports.live}/#token=${secrets.liveToken}`,
      api: `http://${HOST}:${ports.api}/v1/kpis`,
      api_docs: `http://${HOST}:${ports.api}/docs`,
      clickhouse: clickhouseUrl,
      gateway: `http://${HOST}:${ports.gateway}`,
      gateway_iso8583: `tcp://${HOST}:${ports.iso}`,
      processor_metrics: `http://${HOST}:${ports.processor}/metrics`,
      kafka: brokers,
    };
    await writeDemoFile(demoPath, {
      format: 1,
      created: new Date().toISOString(),
      urls,
      credentials: secrets,
    });
    return { urls, secrets, supervisor, stop };
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}

/** Runs a command to its end with its lines prefixed; throws on a non-zero exit. */
function runScript(
  o: StackOptions,
  name: string,
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { cwd: o.root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    forEachLine(child, (line) => o.out(name, line));
    child.once('error', reject);
    child.once('exit', (code, signal) =>
      code === 0 ? resolvePromise() : reject(new Error(`${name} failed (${signal ?? `exit ${code}`})`)),
    );
  });
}

/**
 * One stack per data directory: the embedded engine and the broker each bind theirs. A lock left
 * by a stack that died (its pid gone) is taken over.
 */
async function takeLock(path: string): Promise<{ release(): Promise<void> }> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(path, 'wx', 0o600);
      await fh.writeFile(String(process.pid));
      await fh.close();
      return { release: () => rm(path, { force: true }) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = runningPid(path);
      if (pid !== undefined)
        throw new Error(`a pospulse stack (pid ${pid}) already runs on ${path.replace(/\/stack\.pid$/, '')}`);
      await rm(path, { force: true });
    }
  }
  throw new Error(`could not take the lock ${path}`);
}
