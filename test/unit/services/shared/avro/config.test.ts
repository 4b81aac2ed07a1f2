import { describe, expect, it } from 'vitest';
import { avroCodecConfigSpec, parseAvroCodecConfig } from '../../../../../services/shared/avro/config.ts';
import { ConfigError } from '../../../../../services/shared/errors.ts';

describe('Avro codec config', () => {
  it('defaults to single-object encoding with a 5 s registry timeout', () => {
    expect(parseAvroCodecConfig({})).toEqual({
      schemaRegistryUrl: undefined,
      schemaRegistryAuth: undefined,
      schemaRegistryTimeoutMs: 5000,
    });
  });

  it('reads the registry URL, credentials and timeout', () => {
    expect(
      parseAvroCodecConfig({
        SCHEMA_REGISTRY_URL: 'https://registry.example:8081',
        SCHEMA_REGISTRY_AUTH: 'pospulse:pa:ss',
        SCHEMA_REGISTRY_TIMEOUT: '750ms',
      }),
    ).toEqual({
      schemaRegistryUrl: 'https://registry.example:8081',
      schemaRegistryAuth: 'pospulse:pa:ss',
      schemaRegistryTimeoutMs: 750,
    });
  });

  it('names the variable of a malformed registry URL', () => {
    expect(() => parseAvroCodecConfig({ SCHEMA_REGISTRY_URL: 'registry:8081' })).toThrow(ConfigError);
    expect(() => parseAvroCodecConfig({ SCHEMA_REGISTRY_URL: 'ftp://registry' })).toThrow(
      /SCHEMA_REGISTRY_URL/,
    );
  });

  it('refuses credentials without user:password, without echoing them', () => {
    let err: unknown;
    try {
      parseAvroCodecConfig({ SCHEMA_REGISTRY_AUTH: 'justasecret' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).variable).toBe('SCHEMA_REGISTRY_AUTH');
    expect((err as Error).message).not.toContain('justasecret');
  });

  it.each(['soon', '-1s', '0', '10m'])('refuses the timeout %s', (raw) => {
    expect(() => parseAvroCodecConfig({ SCHEMA_REGISTRY_TIMEOUT: raw })).toThrow(/SCHEMA_REGISTRY_TIMEOUT/);
  });

  it('documents every variable with its default', () => {
    for (const v of Object.values(avroCodecConfigSpec)) {
      expect(v.key).toMatch(/^SCHEMA_REGISTRY_/);
      expect(v.doc.length).toBeGreaterThan(10);
    }
    expect(avroCodecConfigSpec.schemaRegistryTimeoutMs.defaultText).toBe('5000ms');
    expect(avroCodecConfigSpec.schemaRegistryUrl.defaultText).toBe('(unset)');
  });
});
