/** One warning or error of a reply: a stable snake_case `code` and a message for people. */
export const problemSchema = {
  type: 'object',
  properties: { code: { type: 'string' }, field: { type: 'string' }, message: { type: 'string' } },
  required: ['code', 'message'],
} as const;

/** The body of a refused request: `{"errors": [{code, message}]}` (docs/API.md). */
export const errorsSchema = {
  type: 'object',
  properties: { errors: { type: 'array', items: problemSchema } },
} as const;
