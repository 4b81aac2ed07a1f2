import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Hands every non-empty line a child writes (stdout and stderr) to `onLine`, whole. */
export function forEachLine(child: ChildProcess, onLine: (line: string) => void): void {
  for (const stream of [child.stdout, child.stderr]) {
    let partial = '';
    stream?.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) if (line.trim() !== '') onLine(line);
    });
  }
}

/** The pid a pid file names, if that process runs; undefined for none, a stale file or garbage. */
export function runningPid(pidFile: string): number | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile, 'utf8').trim());
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (err) {
    // Alive but not ours to signal.
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? pid : undefined;
  }
}
