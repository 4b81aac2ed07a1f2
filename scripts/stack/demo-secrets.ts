import { randomBytes } from 'node:crypto';
import { chmod, readFile, rename, writeFile } from 'node:fs/promises';
import { generateKey } from '../../services/gateway/api-keys.ts';

/**
 * The credentials `npm start` creates once per install (per data directory) and keeps in
 * `<data>/demo.json` with the URLs: a second start reuses them, so bookmarks and scripts keep
 * working. Only the services' hashes of the keys go to the services; the keys themselves are here
 * for the person trying pospulse, in a file only its owner can read.
 */
export interface DemoSecrets {
  /** LIVE_TOKENS: the wall's token (in the wall URL's fragment). */
  liveToken: string;
  /** API keys by role. */
  apiKeys: { admin: string; analyst: string; viewer: string };
  /** The simulator's gateway API key (all merchants, metrics). */
  gatewayKey: string;
  /** GATEWAY_TOKEN_KEYS: the card-token HMAC key. */
  tokenKey: string;
  /** Store users: the services' and an analyst's (read-only). */
  clickhouse: { service: Login; analyst: Login };
  /** PROCESSOR_METRICS_TOKEN. */
  metricsToken: string;
  /** API_SECRETS_KEY: seals the webhook secrets the api stores. */
  apiSecretsKey: string;
}

export interface Login {
  user: string;
  password: string;
}

const secret = (bytes = 24) => randomBytes(bytes).toString('base64url');

export function newSecrets(): DemoSecrets {
  return {
    liveToken: `live_${secret()}`,
    apiKeys: {
      admin: `api_admin_${secret()}`,
      analyst: `api_analyst_${secret()}`,
      viewer: `api_viewer_${secret()}`,
    },
    gatewayKey: generateKey('simulator').secret,
    tokenKey: `k1:${randomBytes(32).toString('base64')}`,
    clickhouse: {
      service: { user: 'pospulse', password: secret() },
      analyst: { user: 'analyst', password: secret() },
    },
    metricsToken: `metrics_${secret()}`,
    apiSecretsKey: randomBytes(32).toString('base64'),
  };
}

/** The document `npm start` writes (README "What `npm start` writes"). */
export interface DemoFile {
  format: 1;
  created: string;
  urls: Record<string, string>;
  credentials: DemoSecrets;
}

/** The secrets of an earlier run's demo.json, or undefined when there is none (a fresh install). */
export async function readSecrets(path: string): Promise<DemoSecrets | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  let doc: Partial<DemoFile>;
  try {
    doc = JSON.parse(text) as Partial<DemoFile>;
  } catch (err) {
    throw new Error(`${path} is not JSON (${(err as Error).message}): fix it or run npm run reset`, {
      cause: err,
    });
  }
  const c = doc.credentials;
  if (doc.format !== 1 || c === undefined || typeof c.liveToken !== 'string')
    throw new Error(`${path} is not a pospulse demo file of format 1: fix it or run npm run reset`);
  return c;
}

/** Writes demo.json atomically, readable by its owner only. */
export async function writeDemoFile(path: string, file: DemoFile): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, path);
}
