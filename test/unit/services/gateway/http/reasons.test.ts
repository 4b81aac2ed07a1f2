import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BODY_ERRORS, REJECTION_REASONS } from '../../../../../services/gateway/http/reasons.ts';

const doc = readFileSync(new URL('../../../../../docs/INGEST.md', import.meta.url), 'utf8');

describe('reason tables', () => {
  it('documents every per-event reason code in docs/INGEST.md', () => {
    const missing = Object.keys(REJECTION_REASONS).filter((code) => !doc.includes(`| \`${code}\``));
    expect(missing).toEqual([]);
  });

  it('documents every body error code with its status in docs/INGEST.md', () => {
    const missing = Object.entries(BODY_ERRORS)
      .filter(([code, { status }]) => !new RegExp(`\\| \`${code}\`\\s*\\| ${status}\\s*\\|`).test(doc))
      .map(([code]) => code);
    expect(missing).toEqual([]);
  });

  it('uses lower snake case codes with a one-line description each', () => {
    for (const [code, description] of Object.entries(REJECTION_REASONS)) {
      expect(code).toMatch(/^[a-z][a-z0-9_]*$/);
      expect(description).toMatch(/^[A-Za-z`].*\.$/);
      expect(description).not.toContain('\n');
    }
    for (const [code, { status, description }] of Object.entries(BODY_ERRORS)) {
      expect(code).toMatch(/^[a-z][a-z0-9_]*$/);
      expect([400, 413, 415]).toContain(status);
      expect(description).not.toContain('\n');
    }
  });
});
