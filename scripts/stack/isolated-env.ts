import { freePorts } from '../../test/integration/support/broker.ts';
import { STACK_PORTS } from './stack.ts';

/**
 * The environment of a stack that must not meet another one on this machine (a test's, a
 * benchmark's): `base` without any service variable of the caller's shell, and every port of
 * `stackPorts` (broker included) on a free one. `extra` comes last (e.g. KAFKA_BROKERS).
 */
export async function isolatedStackEnv(
  base: NodeJS.ProcessEnv,
  extra: NodeJS.ProcessEnv = {},
): Promise<NodeJS.ProcessEnv> {
  const keys = Object.values(STACK_PORTS).map(([key]) => key);
  const ports = await freePorts(keys.length);
  return {
    ...Object.fromEntries(
      Object.entries(base).filter(
        ([k]) => !/^(KAFKA_|CLICKHOUSE_|API_|LIVE_|GATEWAY_|STORE_|PROCESSOR_|SIMULATOR_|LOG_)/.test(k),
      ),
    ),
    ...Object.fromEntries(keys.map((key, i) => [key, String(ports[i])])),
    ...extra,
  };
}
