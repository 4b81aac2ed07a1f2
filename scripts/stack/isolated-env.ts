import { freePorts } from '../../test/integration/support/broker.ts';

/**
 * The environment of a stack that must not meet another one on this machine (a test's, a
 * benchmark's): `base` without any service variable of the caller's shell, and every port of
 * `stackPorts` (broker included) on a free one. `extra` comes last (e.g. KAFKA_BROKERS).
 */
export async function isolatedStackEnv(
  base: NodeJS.ProcessEnv,
  extra: NodeJS.ProcessEnv = {},
): Promise<NodeJS.ProcessEnv> {
  const [gateway, iso, processor, api, store, live, kafka, controller] = await freePorts(8);
  return {
    ...Object.fromEntries(
      Object.entries(base).filter(
        ([k]) => !/^(KAFKA_|CLICKHOUSE_|API_|LIVE_|GATEWAY_|STORE_|PROCESSOR_|SIMULATOR_|LOG_)/.test(k),
      ),
    ),
    GATEWAY_PORT: String(gateway),
    GATEWAY_ISO_PORT: String(iso),
    PROCESSOR_PORT: String(processor),
    API_PORT: String(api),
    STORE_PORT: String(store),
    LIVE_PORT: String(live),
    KAFKA_PORT: String(kafka),
    KAFKA_CONTROLLER_PORT: String(controller),
    ...extra,
  };
}
