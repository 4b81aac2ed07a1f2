/**
 * Why the HTTP ingest refuses something. Two tables, both part of the public contract (documented
 * in docs/INGEST.md, which a unit test keeps in step, and meant for the OpenAPI document):
 *
 * - {@link REJECTION_REASONS}: one event (one array element, one NDJSON line) is refused; the rest
 *   of the request goes on.
 * - {@link BODY_ERRORS}: the request body as a whole cannot be read; nothing in it is processed.
 *
 * Codes are stable: clients branch on them. Add codes, never rename or reuse one.
 */

export const REJECTION_REASONS = {
  not_an_object: 'The event (array element or NDJSON line) is not a JSON object.',
  invalid_json: 'The NDJSON line is not valid JSON.',
  too_deep: 'The NDJSON line nests objects and arrays deeper than the limit.',
  missing_field: 'A required field is missing.',
  unknown_field: 'The event has a field the format does not define.',
  wrong_type:
    'A field has the wrong JSON type (e.g. a number where a string is expected, an amount that is not an integer).',
  too_long: 'A string has more characters, or an array more items, than the limit.',
  invalid_value:
    'A value is out of its range, not one of the allowed symbols, or not in the expected format.',
  invalid_pan: 'The card number is not 12 to 19 digits or fails the Luhn check.',
  pan_in_text: 'A free-text field contains what looks like a card number.',
  unknown_currency: 'The currency is not an ISO 4217 code.',
  negative_amount: 'An amount is negative.',
  clock_skew: 'A timestamp is too far in the future or older than the maximum event age.',
  response_before_request: 'response_time is earlier than request_time.',
  response_time_without_response: 'response_time is set but response_code is not.',
  status_mismatch:
    'status contradicts the response fields (APPROVED without response_code, TIMEOUT with a response).',
  basket_mismatch:
    "basket.item_count is not the sum of the items' quantities, or the discount exceeds the basket total.",
  out_of_scope:
    'The API key may not send events for this merchant or terminal (checked after validation, by the route).',
} as const satisfies Record<string, string>;

export type RejectionCode = keyof typeof REJECTION_REASONS;

/** Why one event was refused. Messages never quote a value that could hold card data. */
export interface Rejection {
  readonly code: RejectionCode;
  /** JSON Pointer (RFC 6901) into the event; `""` for the event as a whole. */
  readonly path: string;
  /** One short sentence naming the field and what was expected. */
  readonly message: string;
}

export const BODY_ERRORS = {
  unsupported_media_type: {
    status: 415,
    description:
      'Content-Type is not application/json, application/x-ndjson or application/ndjson, or its charset is not utf-8.',
  },
  invalid_utf8: { status: 400, description: 'The body is not valid UTF-8.' },
  invalid_json: { status: 400, description: 'The application/json body is not valid JSON.' },
  too_deep: { status: 400, description: 'The body nests objects and arrays deeper than the limit.' },
  not_an_object: {
    status: 400,
    description: 'The application/json body is neither an event object nor an array of events.',
  },
  too_many_events: { status: 413, description: 'The body holds more events than the limit.' },
  empty_body: { status: 400, description: 'The body holds no event (empty, only whitespace, or `[]`).' },
} as const satisfies Record<string, { status: number; description: string }>;

export type BodyErrorCode = keyof typeof BODY_ERRORS;
