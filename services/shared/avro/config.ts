import {
  type Env,
  type Parsed,
  type Var,
  duration,
  optionalStr,
  optionalUrl,
  parseConfig,
} from '../config.ts';
import { ConfigError } from '../errors.ts';

const registryAuth = optionalStr({
  key: 'SCHEMA_REGISTRY_AUTH',
  doc: 'Basic-auth credentials for the schema registry as `user:password` (a secret: never logged).',
});

/** `optionalStr`, refusing a value without the `:` between user and password. */
const schemaRegistryAuth: Var<string | undefined> = {
  ...registryAuth,
  parse(env: Env) {
    const value = registryAuth.parse(env);
    if (value !== undefined && !value.includes(':')) {
      // Don't echo the value: it is a credential.
      throw new ConfigError(registryAuth.key, '(hidden)', 'user:password');
    }
    return value;
  },
};

/** Environment variables of the Avro codec (shared by every service that reads or writes Kafka). */
export const avroCodecConfigSpec = {
  /**
   * Confluent Schema Registry base URL. When set, records are written in the Confluent wire format
   * (magic 0 + 4-byte schema id) under subject `<topic>-value`; unset, in Avro single-object
   * encoding (C3 01 + CRC-64-AVRO fingerprint). Single-object records are read in both modes, so a
   * topic can migrate; Confluent-framed ones only with a registry.
   * @default (unset)
   */
  schemaRegistryUrl: optionalUrl({
    key: 'SCHEMA_REGISTRY_URL',
    doc: 'Confluent Schema Registry base URL; when set, records are written in the Confluent wire format (subject `<topic>-value`), otherwise in Avro single-object encoding.',
  }),
  /** `user:password` for HTTP basic auth against the registry. @default (unset) */
  schemaRegistryAuth,
  /** Timeout of one schema registry request. @default 5s */
  schemaRegistryTimeoutMs: duration({
    key: 'SCHEMA_REGISTRY_TIMEOUT',
    doc: 'Timeout of one schema registry request (e.g. 500ms, 5s).',
    default: 5000,
    min: 1,
    max: 120_000,
  }),
} as const;

export type AvroCodecConfig = Parsed<typeof avroCodecConfigSpec>;

export function parseAvroCodecConfig(env: Env): AvroCodecConfig {
  return parseConfig(avroCodecConfigSpec, env);
}
