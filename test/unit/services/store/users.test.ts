import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { authenticate, parseUsers } from '../../../../services/store/users.ts';

describe('store users', () => {
  const users = parseUsers(
    JSON.stringify([
      { name: 'svc', password: 'svc-password', role: 'service' },
      {
        name: 'ana',
        password_sha256_hex: createHash('sha256').update('ana-password').digest('hex'),
        role: 'analyst',
        max_execution_time: '90s',
        max_result_rows: 5,
        max_concurrent_queries: 3,
      },
    ]),
  );

  it('gives analysts an engine-enforced read-only profile and services a writable one', () => {
    expect(users[0]).toMatchObject({
      name: 'svc',
      role: 'service',
      profile: { readonly: 0, maxExecutionTime: 0 },
    });
    expect(users[1]).toMatchObject({
      name: 'ana',
      role: 'analyst',
      maxConcurrentQueries: 3,
      profile: { readonly: 1, maxExecutionTime: 90, maxResultRows: 5 },
    });
  });

  it('authenticates by name and password, either given in clear or as a SHA-256', () => {
    expect(authenticate(users, { user: 'svc', password: 'svc-password' })?.name).toBe('svc');
    expect(authenticate(users, { user: 'ana', password: 'ana-password' })?.name).toBe('ana');
    expect(authenticate(users, { user: 'ana', password: 'svc-password' })).toBeUndefined();
    expect(authenticate(users, { user: 'nobody', password: 'svc-password' })).toBeUndefined();
    expect(authenticate(users, { user: 'svc', password: '' })).toBeUndefined();
  });

  it.each([
    ['not json', 'not valid JSON'],
    ['[]', 'non-empty JSON array'],
    ['[{"name":"a"}]', 'users[0] needs exactly one of password'],
    ['[{"name":"a","password":"short"}]', 'users[0].password must have at least 8'],
    ['[{"name":"a","password":"long-enough","role":"admin"}]', 'users[0].role'],
    ['[{"name":"a","password":"long-enough","colour":"red"}]', 'users[0].colour is not a known field'],
    ['[{"name":"a","password":"long-enough"},{"name":"a","password":"long-enough"}]', 'defined twice'],
    ['[{"name":"a b","password":"long-enough"}]', 'users[0].name'],
    ['[{"name":"a","password":"long-enough","max_execution_time":"soon"}]', 'max_execution_time'],
    ['[{"name":"a","password":"long-enough","max_result_rows":-1}]', 'max_result_rows must be an integer'],
    ['[{"name":"a","password_sha256_hex":"abc"}]', '64 hex digits'],
  ])('refuses %s, naming what is wrong', (json, message) => {
    expect(() => parseUsers(json)).toThrow(message);
  });
});
