import type { KpiUpdate } from '../../../../../../services/shared/avro/types.generated.ts';
import {
  WINDOW_MS,
  WindowState,
  type KpiLevel,
} from '../../../../../../services/processor/kpi/window-state.ts';
import { windowVersion } from '../../../../../../services/processor/kpi/windows.ts';
import { transactionAt } from '../../../../../support/fixtures.ts';

/** 1-minute KpiUpdates built by the real window fold, for the entity KPI rules' tests. */

export const T0 = Date.UTC(2026, 10, 2, 8, 0, 0);

export interface MinuteShape {
  tx: number;
  declineShare?: number;
  timeoutShare?: number;
  latencyMs?: number;
}

/** The 1-minute KpiUpdate of entity `merchant` (at `level`) in `partition` for minute `m`, built by the real fold. */
export function minuteUpdate(
  merchant: string,
  m: number,
  shape: MinuteShape,
  partition = 0,
  level: KpiLevel = 'MERCHANT',
): KpiUpdate {
  const state = WindowState.empty();
  const start = T0 + m * WINDOW_MS;
  for (let i = 0; i < shape.tx; i++) {
    const declined = i < Math.round(shape.tx * (shape.declineShare ?? 0));
    const timedOut = !declined && i >= shape.tx - Math.round(shape.tx * (shape.timeoutShare ?? 0));
    const t = start + Math.floor((i * WINDOW_MS) / shape.tx);
    const latency = (shape.latencyMs ?? 200) + (i % 7) * 10;
    state.add(
      transactionAt(m * 10_000 + i + partition * 1_000_000, t, t + 300, {
        merchant_id: merchant,
        status: declined ? 'DECLINED' : timedOut ? 'TIMEOUT' : 'APPROVED',
        response_code: declined ? '05' : timedOut ? null : '00',
        response_time: timedOut ? null : t + latency,
        transaction_type: 'SALE',
      }),
    );
  }
  return state.toKpiUpdate({
    entityLevel: level,
    entityId: merchant,
    windowStart: start,
    windowSizeMs: WINDOW_MS,
    version: windowVersion(state.txCount, true),
    isFinal: true,
    emittedTime: start + 3 * WINDOW_MS,
  });
}
