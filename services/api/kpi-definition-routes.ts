import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { errorsSchema } from './problem-schemas.ts';
import { BASE_METRICS } from '../shared/kpi/formula.ts';
import { checkDefinition, DEFINITION_LEVELS, definitionRule, specOf } from '../shared/kpi/definitions.ts';
import type { DefinitionsTable, StoredDefinition } from '../shared/kpi/definitions-table.ts';
import type { Principal } from './auth.ts';
import { METRICS } from './kpi-query.ts';

export interface KpiDefinitionRoutesDeps {
  definitions: Pick<DefinitionsTable, 'list' | 'get' | 'write'>;
}

const definitionSchema = {
  type: 'object',
  properties: {
    name: { type: 'string', description: 'a-z, 0-9 and _, starting with a letter; not a built-in metric' },
    description: { type: 'string' },
    formula: {
      type: 'string',
      description: `arithmetic (+ - * / and parentheses) over ${BASE_METRICS.join(', ')}; e.g. "declined / count * 100"`,
    },
    unit: { type: 'string', description: 'shown with the value, e.g. "%" or "ms"' },
    level: { type: 'string', enum: [...DEFINITION_LEVELS] },
    direction: {
      type: 'string',
      enum: ['above', 'below'],
      description: 'above: values above the thresholds are bad; below: values below them',
    },
    target: { type: ['number', 'null'] },
    warning: { type: 'number' },
    critical: { type: 'number' },
    window_minutes: { type: 'integer', description: 'minutes the value is judged over (1-60, default 5)' },
    min_count: { type: 'integer', description: 'transactions a window needs to be judged (default 30)' },
    resolve_after_minutes: {
      type: 'integer',
      description: 'an alert resolves after this many minutes within the thresholds (default 10)',
    },
    enabled: { type: 'boolean' },
  },
} as const;

const storedSchema = {
  type: 'object',
  properties: {
    ...definitionSchema.properties,
    rule: { type: 'string', description: 'rule name of its alerts' },
    revision: { type: 'string', description: 'give it back in If-Match to update only this revision' },
    updated_by: { type: 'string' },
    updated_time: { type: 'string', format: 'date-time' },
  },
} as const;
const nameParam = {
  type: 'object',
  properties: { name: { type: 'string', maxLength: 63 } },
  required: ['name'],
} as const;

function view(s: StoredDefinition) {
  const spec = specOf(s.definition);
  return {
    ...spec,
    rule: definitionRule(spec.name),
    revision: s.revision,
    updated_by: s.updatedBy,
    updated_time: new Date(s.updatedTime).toISOString(),
  };
}

function invalid(reply: FastifyReply, problems: { field: string; message: string }[]) {
  return reply.code(400).send({
    errors: problems.map((p) => ({
      code: 'invalid_definition',
      field: p.field,
      message: p.field === '' ? p.message : `${p.field} ${p.message}`,
    })),
  });
}

const unknown = (reply: FastifyReply, name: string) =>
  reply.code(404).send({ errors: [{ code: 'unknown_definition', message: `no KPI definition ${name}` }] });

/** A quoted or bare revision from If-Match; undefined when absent or `*`. */
function ifMatch(header: string | undefined): string | undefined {
  if (header === undefined || header.trim() === '*') return undefined;
  return header
    .trim()
    .replace(/^W\//, '')
    .replace(/^"(.*)"$/, '$1');
}

/**
 * CRUD of KPI definitions (docs/API.md "KPI definitions"): viewers read them, admins change them.
 * The processor picks changes up within PROCESSOR_KPI_DEFINITIONS_REFRESH and judges the
 * thresholds; `/v1/kpis?metric=<name>` computes a definition like a built-in metric.
 */
export function kpiDefinitionRoutes(deps: KpiDefinitionRoutesDeps): FastifyPluginAsync {
  return async (app) => {
    const tags = ['KPI definitions'];
    app.get(
      '/v1/kpi-definitions',
      {
        config: { role: 'viewer' },
        schema: {
          tags,
          summary: 'Every KPI definition',
          response: {
            200: { type: 'object', properties: { definitions: { type: 'array', items: storedSchema } } },
          },
        },
      },
      async () => ({ definitions: [...(await deps.definitions.list()).values()].map(view) }),
    );

    app.get<{ Params: { name: string } }>(
      '/v1/kpi-definitions/:name',
      {
        config: { role: 'viewer' },
        schema: {
          tags,
          summary: 'One KPI definition',
          params: nameParam,
          response: { 200: storedSchema, 404: errorsSchema },
        },
      },
      async (request, reply) => {
        const found = await deps.definitions.get(request.params.name);
        return found === undefined ? unknown(reply, request.params.name) : view(found);
      },
    );

    app.post<{ Body: Record<string, unknown> }>(
      '/v1/kpi-definitions',
      {
        config: { role: 'admin' },
        schema: {
          tags,
          summary: 'Create a KPI definition',
          body: { ...definitionSchema, required: ['name', 'formula', 'level', 'warning', 'critical'] },
          response: { 201: storedSchema, '4xx': errorsSchema },
        },
      },
      async (request, reply) => {
        const checked = checkDefinition(request.body, METRICS);
        if (!checked.ok) return invalid(reply, checked.problems);
        const name = checked.definition.name;
        if ((await deps.definitions.get(name)) !== undefined)
          return reply.code(409).send({
            errors: [
              {
                code: 'definition_exists',
                message: `a KPI definition ${name} exists: PUT /v1/kpi-definitions/${name} changes it`,
              },
            ],
          });
        const stored = await deps.definitions.write(checked.definition, who(request), undefined);
        return reply.code(201).header('ETag', `"${stored.revision}"`).send(view(stored));
      },
    );

    app.put<{ Params: { name: string }; Body: Record<string, unknown> }>(
      '/v1/kpi-definitions/:name',
      {
        config: { role: 'admin' },
        schema: {
          tags,
          summary: 'Create or replace a KPI definition (If-Match: its revision, to change only that one)',
          params: nameParam,
          body: definitionSchema,
          response: { '2xx': storedSchema, '4xx': errorsSchema },
        },
      },
      async (request, reply) => {
        const name = request.params.name;
        if (request.body.name !== undefined && request.body.name !== name)
          return invalid(reply, [
            { field: 'name', message: `must be the name in the path (${name}) or absent` },
          ]);
        const checked = checkDefinition({ ...request.body, name }, METRICS);
        if (!checked.ok) return invalid(reply, checked.problems);
        const current = await deps.definitions.get(name);
        const expected = ifMatch(request.headers['if-match']);
        if (expected !== undefined && expected !== current?.revision)
          return reply.code(412).send({
            errors: [
              {
                code: 'revision_mismatch',
                message: `If-Match ${expected} but the current revision is ${current?.revision ?? 'none (deleted or never created)'}`,
              },
            ],
          });
        const stored = await deps.definitions.write(checked.definition, who(request), current?.revision);
        return reply
          .code(current === undefined ? 201 : 200)
          .header('ETag', `"${stored.revision}"`)
          .send(view(stored));
      },
    );

    app.delete<{ Params: { name: string } }>(
      '/v1/kpi-definitions/:name',
      {
        config: { role: 'admin' },
        schema: {
          tags,
          summary: 'Delete a KPI definition (its open alerts resolve)',
          params: nameParam,
          response: { 204: { type: 'null' }, 404: errorsSchema },
        },
      },
      async (request, reply) => {
        const current = await deps.definitions.get(request.params.name);
        if (current === undefined) return unknown(reply, request.params.name);
        await deps.definitions.write(current.definition, who(request), current.revision, true);
        return reply.code(204).send();
      },
    );
  };
}

/** Recorded with each change: the key's id or the token's subject. */
function who(request: { principal?: Principal }): string {
  return request.principal?.subject ?? 'unknown';
}
