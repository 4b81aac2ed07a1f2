import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import { type AddressInfo } from 'node:net';

/**
 * An in-process stand-in for the Confluent Schema Registry, implementing the two endpoints the
 * codec uses. Ids are global, one per distinct schema text, as in the real registry.
 */
export interface FakeSchemaRegistry {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** Every request received, in order. */
  readonly requests: {
    method: string;
    path: string;
    authorization: string | undefined;
    contentType: string | undefined;
  }[];
  /** subject -> schema texts registered under it. */
  readonly subjects: Map<string, string[]>;
  /** Stores a schema as another producer would have, returning its id. */
  add(schema: string, subject?: string, schemaType?: string): number;
  /** The next `count` requests get this status instead of an answer. */
  failNext(status: number, count?: number): void;
  /** Requests without these basic-auth credentials get 401. */
  requireAuth(userPassword: string): void;
  /** Delays every answer (to exercise client timeouts). */
  delay(ms: number): void;
  close(): Promise<void>;
}

const JSON_TYPE = 'application/vnd.schemaregistry.v1+json';

export async function startFakeSchemaRegistry(): Promise<FakeSchemaRegistry> {
  const ids = new Map<string, number>();
  const schemas = new Map<number, { schema: string; schemaType: string }>();
  const subjects = new Map<string, string[]>();
  const requests: FakeSchemaRegistry['requests'] = [];
  let failures: { status: number; count: number } | undefined;
  let auth: string | undefined;
  let delayMs = 0;

  const add = (schema: string, subject?: string, schemaType = 'AVRO'): number => {
    let id = ids.get(schema);
    if (id === undefined) {
      id = ids.size + 1;
      ids.set(schema, id);
      schemas.set(id, { schema, schemaType });
    }
    if (subject !== undefined) {
      const list = subjects.get(subject) ?? [];
      if (!list.includes(schema)) list.push(schema);
      subjects.set(subject, list);
    }
    return id;
  };

  const send = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': JSON_TYPE });
    res.end(JSON.stringify(body));
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = req.url ?? '/';
    requests.push({
      method: req.method ?? '',
      path,
      authorization: req.headers.authorization,
      contentType: req.headers['content-type'],
    });
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
    if (failures && failures.count > 0) {
      failures.count--;
      return send(res, failures.status, { error_code: failures.status * 100, message: 'injected failure' });
    }
    if (auth !== undefined && req.headers.authorization !== `Basic ${Buffer.from(auth).toString('base64')}`) {
      return send(res, 401, { error_code: 401, message: 'Unauthorized' });
    }
    const register = /^\/subjects\/([^/]+)\/versions$/.exec(path);
    if (req.method === 'POST' && register) {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { schema?: unknown };
      if (typeof body.schema !== 'string')
        return send(res, 422, { error_code: 42201, message: 'Invalid schema' });
      return send(res, 200, { id: add(body.schema, decodeURIComponent(register[1]!)) });
    }
    const byId = /^\/schemas\/ids\/(\d+)$/.exec(path);
    if (req.method === 'GET' && byId) {
      const found = schemas.get(Number(byId[1]));
      if (!found) return send(res, 404, { error_code: 40403, message: 'Schema not found' });
      return send(res, 200, found.schemaType === 'AVRO' ? { schema: found.schema } : found);
    }
    send(res, 404, { error_code: 404, message: 'HTTP 404 Not Found' });
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => send(res, 500, { error_code: 50001, message: String(err) }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    subjects,
    add,
    failNext(status, count = 1) {
      failures = { status, count };
    },
    requireAuth(userPassword) {
      auth = userPassword;
    },
    delay(ms) {
      delayMs = ms;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
