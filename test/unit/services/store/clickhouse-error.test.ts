import { describe, expect, it } from 'vitest';
import {
  CH,
  ClickHouseHttpError,
  errorBody,
  fromEngineError,
  httpStatusFor,
} from '../../../../services/store/clickhouse-error.ts';

describe('ClickHouse-shaped errors', () => {
  it('reads code, type and text from an engine error, unwrapping a doubled message', () => {
    const e = Object.assign(
      new Error(
        "Code: 164. DB::Exception: Code: 164. DB::Exception: Cannot modify 'x' setting in readonly mode. (READONLY) (version 26.7.2.1). (READONLY)",
      ),
      { clickhouseCode: 164 },
    );
    expect(fromEngineError(e)).toMatchObject({
      chCode: 164,
      chType: 'READONLY',
      text: "Cannot modify 'x' setting in readonly mode",
    });
    const plain = fromEngineError(
      new Error("Code: 60. DB::Exception: Unknown table expression identifier 't'. (UNKNOWN_TABLE)"),
    );
    expect(plain).toMatchObject({ chCode: 60, chType: 'UNKNOWN_TABLE' });
    expect(fromEngineError(new Error('socket closed'))).toMatchObject({
      chCode: 1002,
      chType: 'UNKNOWN_EXCEPTION',
    });
  });

  it('writes the body @clickhouse/client parses back', () => {
    expect(errorBody(ClickHouseHttpError.of(CH.SYNTAX_ERROR, 'Empty query'), '26.7')).toBe(
      'Code: 62. DB::Exception: Empty query. (SYNTAX_ERROR) (version 26.7)\n',
    );
  });

  it.each([
    ['REQUIRED_PASSWORD', 401],
    ['AUTHENTICATION_FAILED', 403],
    ['ACCESS_DENIED', 403],
    ['SYNTAX_ERROR', 400],
    ['UNKNOWN_TABLE', 404],
    ['UNKNOWN_SETTING', 404],
    ['QUERY_IS_TOO_LARGE', 413],
    ['NOT_IMPLEMENTED', 501],
    ['TIMEOUT_EXCEEDED', 408],
    ['TOO_MANY_SIMULTANEOUS_QUERIES', 503],
    ['READONLY', 500],
  ])('answers %s with HTTP %d, as a ClickHouse server does', (type, status) => {
    expect(httpStatusFor(type)).toBe(status);
  });
});
