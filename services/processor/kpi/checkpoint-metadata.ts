import type { CommitPoint, CommittedOffset } from '../../shared/kafka/consumer.ts';
import type { WindowCheckpoint } from './windows.ts';

/**
 * A window checkpoint travels as the metadata of the Kafka offset commit, so offset and engine state
 * are committed in one request and cannot disagree. The committed offset is the checkpoint's
 * restartOffset (a new owner must re-read the open windows' events); the metadata says where the
 * already-processed records end and where the watermark stood.
 */

const VERSION = 1;

interface Encoded {
  v: number;
  next: number;
  maxEventTime: number | null;
}

export function commitPointOf(cp: WindowCheckpoint): CommitPoint {
  const body: Encoded = { v: VERSION, next: cp.nextOffset, maxEventTime: cp.maxEventTime };
  return { offset: String(cp.restartOffset), metadata: JSON.stringify(body) };
}

export type CheckpointReading =
  | { kind: 'checkpoint'; checkpoint: WindowCheckpoint }
  /** Nothing committed yet, or committed without a checkpoint (e.g. by an older processor). */
  | { kind: 'none' }
  | { kind: 'invalid'; reason: string };

export function checkpointOf(partition: number, committed: CommittedOffset | undefined): CheckpointReading {
  if (committed === undefined || committed.metadata === null || committed.metadata === '')
    return { kind: 'none' };
  const restart = Number(committed.offset);
  if (!Number.isSafeInteger(restart) || restart < 0) return { kind: 'none' };
  let body: unknown;
  try {
    body = JSON.parse(committed.metadata);
  } catch {
    return { kind: 'invalid', reason: 'metadata is not JSON' };
  }
  const b = body as Partial<Encoded>;
  if (typeof b !== 'object' || b === null || b.v !== VERSION) {
    return { kind: 'invalid', reason: `metadata version ${String(b?.v)} is not ${VERSION}` };
  }
  if (!Number.isSafeInteger(b.next) || (b.next as number) < restart) {
    return {
      kind: 'invalid',
      reason: `next offset ${String(b.next)} is not an offset at or after ${restart}`,
    };
  }
  if (b.maxEventTime !== null && !Number.isFinite(b.maxEventTime)) {
    return { kind: 'invalid', reason: `maxEventTime ${String(b.maxEventTime)} is not a time` };
  }
  return {
    kind: 'checkpoint',
    checkpoint: {
      partition,
      restartOffset: restart,
      nextOffset: b.next as number,
      maxEventTime: b.maxEventTime ?? null,
    },
  };
}
