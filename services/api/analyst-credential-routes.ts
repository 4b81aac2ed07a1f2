import type { FastifyPluginAsync } from 'fastify';
import { errorsSchema } from './problem-schemas.ts';
import { DEFAULT_LIMITS, type AnalystCredentials, type CredentialLimits } from './analyst-credentials.ts';

export interface AnalystCredentialRoutesDeps {
  credentials: Pick<AnalystCredentials, 'issue' | 'list' | 'revoke' | 'connection'>;
}

const NAME_PATTERN = '^[A-Za-z_][A-Za-z0-9_]{0,63}$';

// Bounded on purpose: 0 (unlimited) is not on offer, so no analyst query can hold the engine for good.
const limitsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    max_execution_time_s: { type: 'integer', minimum: 1, maximum: 86_400 },
    max_result_rows: { type: 'integer', minimum: 1, maximum: 10_000_000_000 },
    max_result_bytes: { type: 'integer', minimum: 1, maximum: 1024 ** 4 },
  },
} as const;

const fullLimitsSchema = {
  ...limitsSchema,
  required: ['max_execution_time_s', 'max_result_rows', 'max_result_bytes'],
} as const;

const recordProperties = {
  user: { type: 'string' },
  note: { type: 'string' },
  issued_by: { type: 'string' },
  created_at: { type: 'string', format: 'date-time' },
  limits: fullLimitsSchema,
  revoked_at: { type: ['string', 'null'], format: 'date-time' },
  revoked_by: { type: ['string', 'null'] },
} as const;
/**
 * `POST/GET /v1/analyst-credentials`, `DELETE /v1/analyst-credentials/{user}` (admin) and
 * `GET /v1/sql` (analyst): read-only ClickHouse users for analysts (docs/ANALYSTS.md).
 */
export function analystCredentialRoutes(deps: AnalystCredentialRoutesDeps): FastifyPluginAsync {
  return async (app) => {
    app.post<{
      Body: { name?: string; note?: string; limits?: Partial<CredentialLimits> };
    }>(
      '/v1/analyst-credentials',
      {
        config: { role: 'admin' },
        // Everything in the body is optional, so no body at all means all defaults.
        preValidation: async (request) => {
          request.body ??= {};
        },
        schema: {
          summary: 'Issue a read-only SQL credential for an analyst (the password is shown only here)',
          body: {
            type: 'object',
            additionalProperties: false,
            properties: {
              name: { type: 'string', pattern: NAME_PATTERN },
              note: { type: 'string', maxLength: 500 },
              limits: limitsSchema,
            },
          },
          response: {
            201: {
              type: 'object',
              properties: {
                ...recordProperties,
                password: { type: 'string' },
                clickhouse_url: { type: 'string' },
                database: { type: 'string' },
              },
            },
            409: errorsSchema,
          },
        },
      },
      async (request, reply) => {
        const body = request.body;
        const result = await deps.credentials.issue({
          name: body.name,
          note: body.note ?? '',
          limits: { ...DEFAULT_LIMITS, ...body.limits },
          // The preHandler set it: this route needs a role.
          issuedBy: request.principal!.subject,
        });
        if (!result.ok)
          return reply.code(409).send({ errors: [{ code: result.code, message: result.message }] });
        request.log.info(
          { user: result.credential.user, issued_by: result.credential.issued_by },
          'analyst credential issued',
        );
        return reply.code(201).header('Cache-Control', 'no-store').send(result.credential);
      },
    );

    app.get(
      '/v1/analyst-credentials',
      {
        config: { role: 'admin' },
        schema: {
          summary: 'Every analyst credential issued, newest first, with its revocation (never a password)',
          response: {
            200: {
              type: 'object',
              properties: {
                credentials: { type: 'array', items: { type: 'object', properties: recordProperties } },
              },
            },
          },
        },
      },
      async () => ({ credentials: await deps.credentials.list() }),
    );

    app.delete<{ Params: { user: string } }>(
      '/v1/analyst-credentials/:user',
      {
        config: { role: 'admin' },
        schema: {
          summary: 'Revoke an analyst credential: its next query fails authentication',
          params: {
            type: 'object',
            properties: { user: { type: 'string', maxLength: 64 } },
            required: ['user'],
          },
          response: { 404: errorsSchema },
        },
      },
      async (request, reply) => {
        const { user } = request.params;
        const revoked = new RegExp(NAME_PATTERN).test(user)
          ? await deps.credentials.revoke(user, request.principal!.subject)
          : false;
        if (!revoked)
          return reply.code(404).send({
            errors: [{ code: 'unknown_credential', message: `${user} has no analyst credential in force` }],
          });
        request.log.info({ user, revoked_by: request.principal!.subject }, 'analyst credential revoked');
        return reply.code(204).send();
      },
    );

    app.get(
      '/v1/sql',
      {
        config: { role: 'analyst' },
        schema: {
          summary:
            'Where analysts connect for SQL (ClickHouse HTTP interface); credentials come from an admin',
          response: {
            200: {
              type: 'object',
              properties: {
                clickhouse_url: { type: 'string' },
                database: { type: 'string' },
                default_limits: fullLimitsSchema,
                docs: { type: 'string' },
              },
            },
          },
        },
      },
      async () => ({
        ...deps.credentials.connection,
        default_limits: DEFAULT_LIMITS,
        docs: 'docs/ANALYSTS.md',
      }),
    );
  };
}
