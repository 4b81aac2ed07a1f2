import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { apiSpec } from '../../../services/api/config.ts';
import { webhookSpec } from '../../../services/api/webhooks/webhook-config.ts';
import { gatewaySpec } from '../../../services/gateway/config.ts';
import { isoSpec } from '../../../services/gateway/iso-config.ts';
import { liveSpec } from '../../../services/live/config.ts';
import { processorSpec } from '../../../services/processor/config.ts';
import { avroCodecConfigSpec } from '../../../services/shared/avro/config.ts';
import { clickhouseSpec } from '../../../services/shared/clickhouse/config.ts';
import { migrationsSpec } from '../../../services/shared/clickhouse/migrations-config.ts';
import type { Var } from '../../../services/shared/config.ts';
import { kafkaSpec } from '../../../services/shared/kafka/config.ts';
import { loggingSpec } from '../../../services/shared/logger.ts';
import { simulatorSpec } from '../../../services/simulator/config.ts';

const root = join(import.meta.dirname, '..', '..', '..');
const composeFile = join(root, 'infra', 'compose', 'docker-compose.yml');
const k8sDir = join(root, 'infra', 'k8s');
const isCI = process.env['CI'] === 'true' || process.env['CI'] === '1';

type Spec = Record<string, Var<unknown>>;
const vars = (...specs: Spec[]): Var<unknown>[] => specs.flatMap((s) => Object.values(s));

/** What each entry script parses from its environment (as its main reads it). */
const ENTRIES: Record<string, Var<unknown>[]> = {
  'services/gateway/main.ts': vars(gatewaySpec, isoSpec, kafkaSpec, avroCodecConfigSpec, loggingSpec),
  'services/processor/main.ts': vars(
    processorSpec,
    kafkaSpec,
    avroCodecConfigSpec,
    clickhouseSpec,
    loggingSpec,
  ),
  'services/live/main.ts': vars(liveSpec, kafkaSpec, avroCodecConfigSpec, loggingSpec),
  'services/api/main.ts': vars(
    apiSpec,
    webhookSpec,
    clickhouseSpec,
    kafkaSpec,
    avroCodecConfigSpec,
    loggingSpec,
  ),
  'services/simulator/main.ts': vars(simulatorSpec, kafkaSpec, avroCodecConfigSpec, loggingSpec),
  'services/shared/clickhouse/migrate-cli.ts': vars(clickhouseSpec, migrationsSpec, loggingSpec),
  'services/shared/kafka/create-topics-cli.ts': vars(kafkaSpec, loggingSpec),
};

// Node's own variables a deployment may need (a private CA for KAFKA_SSL or an https CLICKHOUSE_URL).
const NODE_RUNTIME = new Set(['NODE_EXTRA_CA_CERTS', 'NODE_OPTIONS']);

// Credentials by name; a path to a key file (…_TLS_KEY, …_FILE) is not one.
const SECRET = /PASSWORD|SECRET|TOKENS?$|_KEYS?$|_AUTH$/;
const isSecret = (key: string) => SECRET.test(key) && !/_TLS_KEY$|_FILE$/.test(key);

/** An env var as a deploy file sets it: a literal value, or from somewhere the file does not hold. */
interface EnvEntry {
  key: string;
  /** Undefined: from a Secret, a field ref or a required `${VAR:?}`. */
  literal: string | undefined;
  /** Set from a secret store (k8s secretKeyRef, compose `${VAR}` interpolation). */
  fromSecret: boolean;
}

interface Container {
  where: string;
  entry: string;
  env: EnvEntry[];
}

// ---- compose ----------------------------------------------------------------------------------

interface ComposeService {
  image?: string;
  command?: string[];
  environment?: Record<string, string | number | boolean | null>;
  healthcheck?: { test?: string[] };
  profiles?: string[];
}
const compose = parse(readFileSync(composeFile, 'utf8'), { merge: true }) as {
  services: Record<string, ComposeService>;
};

function composeEnv(raw: Record<string, string | number | boolean | null> | undefined): EnvEntry[] {
  return Object.entries(raw ?? {}).map(([key, v]) => {
    const value = String(v ?? '');
    const interpolated = /^\$\{(\w+)(?::?([-?])(.*))?\}$/.exec(value);
    if (interpolated === null) {
      expect(value, `${key}: a literal, or one whole \${VAR…} interpolation`).not.toContain('$');
      return { key, literal: value, fromSecret: false };
    }
    // `${VAR:-default}` is a literal default unless it names a credential.
    const literal = interpolated[2] === '-' ? (interpolated[3] ?? '') : undefined;
    return { key, literal, fromSecret: true };
  });
}

const composeContainers: Container[] = Object.entries(compose.services)
  .filter(([, s]) => s.image?.includes('pospulse') === true)
  .map(([name, s]) => ({
    where: `compose ${name}`,
    entry: s.command?.[0] ?? '(no command)',
    env: composeEnv(s.environment),
  }));

// ---- kubernetes -------------------------------------------------------------------------------

const k8sFiles = readdirSync(k8sDir)
  .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
  .sort();

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  data?: Record<string, string>;
  spec?: Record<string, unknown>;
}
const k8sObjects: { file: string; obj: K8sObject }[] = k8sFiles.flatMap((file) =>
  parseAllDocuments(readFileSync(join(k8sDir, file), 'utf8')).map((doc) => {
    expect(doc.errors, file).toEqual([]);
    return { file, obj: doc.toJS() as K8sObject };
  }),
);
const configMaps = new Map(
  k8sObjects
    .filter(({ obj }) => obj.kind === 'ConfigMap')
    .map(({ obj }) => [obj.metadata.name, obj.data ?? {}]),
);

interface K8sEnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string }; fieldRef?: unknown };
}
interface K8sContainer {
  name: string;
  args?: string[];
  env?: K8sEnvVar[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: unknown }[];
  ports?: { name: string; containerPort: number }[];
  readinessProbe?: { httpGet?: { path: string; port: string | number } };
  livenessProbe?: { httpGet?: { path: string; port: string | number } };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: {
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    capabilities?: { drop?: string[] };
  };
}
interface PodSpec {
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
  containers: K8sContainer[];
}

const workloads = k8sObjects
  .filter(({ obj }) => obj.kind === 'Deployment' || obj.kind === 'Job')
  .map(({ file, obj }) => {
    const template = (obj.spec as { template: { spec: PodSpec } }).template;
    return { file, obj, pod: template.spec };
  });

const k8sContainers: Container[] = workloads.flatMap(({ file, obj, pod }) =>
  pod.containers.map((c) => {
    const env: EnvEntry[] = [];
    for (const from of c.envFrom ?? []) {
      expect(from.secretRef, `${file} ${c.name}: secrets by key (secretKeyRef), not whole`).toBeUndefined();
      const data = configMaps.get(from.configMapRef?.name ?? '');
      expect(data, `${file} ${c.name}: ConfigMap ${from.configMapRef?.name}`).toBeDefined();
      for (const [key, value] of Object.entries(data ?? {}))
        env.push({ key, literal: value, fromSecret: false });
    }
    for (const e of c.env ?? [])
      env.push({
        key: e.name,
        literal: e.value,
        fromSecret: e.valueFrom?.secretKeyRef !== undefined,
      });
    return { where: `${file} ${obj.kind}/${obj.metadata.name}`, entry: c.args?.[0] ?? '(no args)', env };
  }),
);

// ---- checks -----------------------------------------------------------------------------------

describe.each([
  ['compose', composeContainers],
  ['kubernetes', k8sContainers],
])('%s: the pospulse containers', (_kind, containers) => {
  it('run every service and one-shot, each through its own entry script', () => {
    for (const c of containers) expect(Object.keys(ENTRIES), c.where).toContain(c.entry);
    expect(new Set(containers.map((c) => c.entry))).toEqual(new Set(Object.keys(ENTRIES)));
  });

  it('set only variables their service reads, each once, and literal values it accepts', () => {
    for (const c of containers) {
      const known = new Map(ENTRIES[c.entry]!.map((v) => [v.key, v]));
      const keys = c.env.map((e) => e.key);
      expect(
        keys.filter((k, i) => keys.indexOf(k) !== i),
        `${c.where}: set twice`,
      ).toEqual([]);
      for (const e of c.env.filter((x) => !NODE_RUNTIME.has(x.key))) {
        const spec = known.get(e.key);
        expect(spec, `${c.where}: ${e.key} is not a config key of ${c.entry}`).toBeDefined();
        if (e.literal !== undefined && !isSecret(e.key))
          expect(
            () => spec!.parse({ [e.key]: e.literal }),
            `${c.where}: ${e.key}=${e.literal}`,
          ).not.toThrow();
      }
    }
  });

  it('take credentials from secrets, never from a literal in the file', () => {
    for (const c of containers)
      for (const e of c.env.filter((x) => isSecret(x.key))) {
        expect(e.fromSecret, `${c.where}: ${e.key}`).toBe(true);
        expect(e.literal ?? '', `${c.where}: ${e.key} has a default`).toBe('');
      }
  });

  it('provide every variable their service requires', () => {
    for (const c of containers) {
      const set = new Set(c.env.map((e) => e.key));
      const required = ENTRIES[c.entry]!.filter((v) => {
        try {
          v.parse({});
          return false;
        } catch {
          return true;
        }
      });
      for (const v of required) expect(set, `${c.where} lacks ${v.key}`).toContain(v.key);
    }
  });
});

/** The port a service listens on, from its *_PORT variable. */
function portOf(env: EnvEntry[]): number | undefined {
  const e = env.find((x) => /^(GATEWAY|PROCESSOR|LIVE|API)_PORT$/.test(x.key));
  return e?.literal === undefined ? undefined : Number(e.literal);
}

describe('compose', () => {
  it('runs only Kafka and a ClickHouse server besides the pospulse image, and the simulator under a profile', () => {
    const others = Object.entries(compose.services).filter(([, s]) => s.image?.includes('pospulse') !== true);
    expect(Object.fromEntries(others.map(([n, s]) => [n, s.image?.split(':')[0]]))).toEqual({
      kafka: 'apache/kafka',
      clickhouse: 'clickhouse/clickhouse-server',
    });
    for (const [name, s] of Object.entries(compose.services))
      expect(s.profiles, name).toEqual(name === 'simulator' ? ['simulator'] : undefined);
  });

  it('checks each long-running service on /readyz of the port it listens on', () => {
    for (const c of composeContainers) {
      const port = portOf(c.env);
      const name = c.where.replace('compose ', '');
      const test = compose.services[name]!.healthcheck?.test?.join(' ');
      if (port === undefined) expect(test, name).toBeUndefined();
      else expect(test, name).toContain(`http://127.0.0.1:${port}/readyz`);
    }
  });

  it("gives the ClickHouse server the same password the services use, through the users file's from_env", () => {
    const server = compose.services['clickhouse']!.environment!;
    const users = readFileSync(join(root, 'infra', 'compose', 'clickhouse-users.xml'), 'utf8');
    const fromEnv = /<password from_env="(\w+)"/.exec(users)?.[1];
    expect(fromEnv).toBeDefined();
    expect(String(server[fromEnv!])).toMatch(/^\$\{CLICKHOUSE_PASSWORD:\?/);
    expect(users).toMatch(/<access_management>1<\/access_management>/);
  });
});

describe('kubernetes', () => {
  it('probes every served port: readiness on /readyz, liveness on /healthz', () => {
    for (const { file, obj, pod } of workloads.filter((w) => w.obj.kind === 'Deployment'))
      for (const c of pod.containers) {
        const port = portOf(
          k8sContainers.find((k) => k.where === `${file} Deployment/${obj.metadata.name}`)!.env,
        );
        if (port === undefined) {
          expect(c.ports ?? [], `${file}: a container without a port serves nothing`).toEqual([]);
          continue;
        }
        const http = c.ports?.find((p) => p.containerPort === port);
        expect(http, `${file}: containerPort ${port}`).toBeDefined();
        expect(c.readinessProbe?.httpGet, file).toEqual({ path: '/readyz', port: http!.name });
        expect(c.livenessProbe?.httpGet, file).toEqual({ path: '/healthz', port: http!.name });
      }
  });

  it('runs every container non-root on a read-only root filesystem, with requests and limits', () => {
    expect(workloads.length).toBeGreaterThan(0);
    for (const { file, pod } of workloads) {
      expect(pod.securityContext?.runAsNonRoot, file).toBe(true);
      expect(pod.securityContext?.runAsUser, file).toBeGreaterThan(0);
      for (const c of pod.containers) {
        expect(c.securityContext, file).toMatchObject({
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ['ALL'] },
        });
        for (const r of ['cpu', 'memory']) {
          expect(c.resources?.requests?.[r], `${file} ${c.name} requests.${r}`).toBeDefined();
          expect(c.resources?.limits?.[r], `${file} ${c.name} limits.${r}`).toBeDefined();
        }
      }
    }
  });

  it('keeps the Secret a template of placeholders, and leaves it out of the kustomization', () => {
    const secrets = k8sObjects.filter(({ obj }) => obj.kind === 'Secret');
    expect(secrets.map((s) => s.file)).toEqual(['secret.example.yaml']);
    const data = (secrets[0]!.obj as { stringData?: Record<string, string> }).stringData ?? {};
    for (const [key, value] of Object.entries(data)) expect(value, key).toBe('REPLACE_ME');
    // Every secretKeyRef names a key of the template (an optional one may be commented out there).
    const template = readFileSync(join(k8sDir, 'secret.example.yaml'), 'utf8');
    for (const { pod, file } of workloads)
      for (const c of pod.containers)
        for (const e of c.env ?? []) {
          const ref = e.valueFrom?.secretKeyRef;
          if (ref === undefined) continue;
          expect(ref.name, file).toBe('pospulse-secrets');
          expect(template, `${file}: ${ref.key}`).toMatch(
            new RegExp(`^\\s*#?\\s*${ref.key}: REPLACE_ME`, 'm'),
          );
        }
    const kustomization = parse(readFileSync(join(k8sDir, 'kustomization.yaml'), 'utf8')) as {
      resources: string[];
    };
    expect([...kustomization.resources].sort()).toEqual(k8sFiles.filter((f) => f !== 'secret.example.yaml'));
  });
});

// ---- the real validators (offline) ------------------------------------------------------------

/** A validator's path, or undefined (its checks skipped, outside CI only) when it is not installed. */
function tool(name: string, envVar: string): string | undefined {
  const path = process.env[envVar] ?? name;
  const probe = spawnSync(path, ['--version'], { encoding: 'utf8' });
  if (probe.error === undefined && probe.status === 0) return path;
  if (isCI)
    throw new Error(
      `${name} is required under CI (.ci/run installs it): ${probe.error?.message ?? probe.stderr}`,
    );
  return undefined;
}
const skipNote = (path: string | undefined, name: string) =>
  path === undefined ? ` (SKIPPED: ${name} is not installed here; .ci/run installs it)` : '';

const scratch = mkdtempSync(join(tmpdir(), 'pospulse-deploy-files-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const dockerCompose = tool('docker-compose', 'DOCKER_COMPOSE');
describe.skipIf(dockerCompose === undefined)(
  `docker-compose config (Debian docker-compose, no daemon needed)${skipNote(dockerCompose, 'docker-compose')}`,
  () => {
    const required = [...readFileSync(composeFile, 'utf8').matchAll(/\$\{(\w+):\?/g)].map((m) => m[1]!);
    const placeholders = Object.fromEntries(required.map((k) => [k, 'placeholder']));
    const run = (file: string, env: Record<string, string>, ...args: string[]) =>
      spawnSync(dockerCompose!, ['-f', file, ...args, 'config', '-q'], {
        encoding: 'utf8',
        env: { PATH: process.env['PATH'], ...env },
      });

    it('accepts the file, with and without the simulator profile', () => {
      expect(required).toContain('CLICKHOUSE_PASSWORD');
      for (const args of [[], ['--profile', 'simulator']]) {
        const r = run(composeFile, placeholders, ...args);
        expect(r.stderr + r.stdout, args.join(' ')).toBe('');
        expect(r.status).toBe(0);
      }
    }, 30_000);

    it('refuses to run without a required secret, naming it', () => {
      const { CLICKHOUSE_PASSWORD: _, ...rest } = placeholders;
      const r = run(composeFile, rest);
      expect(r.status).not.toBe(0);
      expect(r.stderr).toContain('set CLICKHOUSE_PASSWORD');
    }, 30_000);

    it('rejects an unknown option (so the check above is strict)', () => {
      const broken = join(scratch, 'docker-compose.yml');
      const text = readFileSync(composeFile, 'utf8')
        .replace('context: ../..', `context: ${root}`)
        .replace('./clickhouse-users.xml', join(root, 'infra', 'compose', 'clickhouse-users.xml'))
        .replace('  read_only: true', '  read_onyl: true');
      writeFileSync(broken, text);
      const r = run(broken, placeholders);
      expect(r.status).not.toBe(0);
      expect(r.stderr).toContain("Unsupported config option for services.gateway: 'read_onyl'");
    }, 30_000);
  },
);

/** Oldest and newest Kubernetes versions the manifests are checked against (schemas in the package). */
const K8S_VERSIONS = ['1.30.0', '1.37.0'];

const kubernetesValidate = tool('kubernetes-validate', 'KUBERNETES_VALIDATE');
describe.skipIf(kubernetesValidate === undefined)(
  `kubernetes-validate --strict (PyPI, schemas shipped in the package)${skipNote(kubernetesValidate, 'kubernetes-validate')}`,
  () => {
    const validate = (version: string, ...files: string[]) =>
      spawnSync(kubernetesValidate!, ['--strict', '--kubernetes-version', version, ...files], {
        encoding: 'utf8',
        cwd: k8sDir,
      });

    it.each(K8S_VERSIONS)('accepts every manifest against Kubernetes %s', (version) => {
      const r = validate(version, ...k8sFiles);
      expect(r.stdout + r.stderr).not.toMatch(/ERROR|WARN/);
      expect(r.status).toBe(0);
      expect(r.stdout.match(/ passed for resource /g)?.length).toBe(k8sObjects.length);
    });

    // kubectl is not installed by .ci/run (no registry here ships it); the image of this machine has it.
    const kubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).status === 0;
    it.skipIf(!kubectl)(
      `renders through kustomize into the same objects, in the namespace, which validate too${kubectl ? '' : ' (SKIPPED: no kubectl here)'}`,
      () => {
        const rendered = spawnSync('kubectl', ['kustomize', k8sDir], { encoding: 'utf8' });
        expect(rendered.stderr).toBe('');
        expect(rendered.status).toBe(0);
        const objects = parseAllDocuments(rendered.stdout).map(
          (d) =>
            d.toJS() as K8sObject & {
              metadata: { namespace?: string };
            },
        );
        const expected = k8sObjects
          .filter(({ obj }) => obj.kind !== 'Secret')
          .map(({ obj }) => `${obj.kind}/${obj.metadata.name}`);
        expect(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual(expected.sort());
        for (const o of objects.filter((x) => x.kind !== 'Namespace'))
          expect(o.metadata.namespace).toBe('pospulse');
        const file = join(scratch, 'rendered.yaml');
        writeFileSync(file, rendered.stdout);
        const r = validate(K8S_VERSIONS[1]!, file);
        expect(r.stdout + r.stderr).not.toMatch(/ERROR|WARN/);
        expect(r.status).toBe(0);
      },
    );

    it('rejects an unknown field and a wrongly typed one (so the check above is strict)', () => {
      const docs = parseAllDocuments(readFileSync(join(k8sDir, 'gateway.yaml'), 'utf8')).map(
        (d) => d.toJS() as K8sObject,
      );
      const deployment = structuredClone(docs[0]!) as K8sObject & { spec: { template: { spec: PodSpec } } };
      const probe = deployment.spec.template.spec.containers[0]!.readinessProbe as Record<string, unknown>;
      probe['initialDelaySecs'] = 5;
      const service = structuredClone(docs[1]!) as K8sObject & { spec: { ports: { port: unknown }[] } };
      service.spec.ports[0]!.port = 'eighty';
      const unknownField = join(scratch, 'unknown-field.yaml');
      const wrongType = join(scratch, 'wrong-type.yaml');
      writeFileSync(unknownField, stringify(deployment));
      writeFileSync(wrongType, stringify(service));
      const a = validate(K8S_VERSIONS[1]!, unknownField);
      expect(a.status).not.toBe(0);
      expect(a.stdout + a.stderr).toContain("'initialDelaySecs' was unexpected");
      const b = validate(K8S_VERSIONS[1]!, wrongType);
      expect(b.status).not.toBe(0);
      expect(b.stdout + b.stderr).toMatch(/'eighty' is not of type 'integer'/);
    });
  },
);
