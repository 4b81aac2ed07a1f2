/**
 * Turns a service's log line (pino JSON) into one readable line prefixed with the service's name:
 * `12:04:05 processor │ WARN  message  key=value …`. Lines that are not JSON pass as they are.
 */

const LEVELS: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO ',
  40: 'WARN ',
  50: 'ERROR',
  60: 'FATAL',
};
const COLOURS: Record<number, string> = { 40: '\u001b[33m', 50: '\u001b[31m', 60: '\u001b[31m' };
const RESET = '\u001b[0m';
const DIM = '\u001b[2m';

/** pino's own fields, and the service name the prefix already says. */
const HIDDEN = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'service', 'v']);

export interface LineStyle {
  /** Width the names are padded to, so the messages line up. */
  nameWidth: number;
  colour: boolean;
}

function clock(t: unknown): string {
  const d = typeof t === 'number' || typeof t === 'string' ? new Date(t) : new Date();
  return Number.isNaN(d.getTime()) ? '--:--:--' : d.toISOString().slice(11, 19);
}

function field(key: string, value: unknown): string {
  if (value !== null && typeof value === 'object') {
    const err = value as { message?: unknown; code?: unknown };
    // An error: its message (and code) say enough on one line; the stack is in the JSON log.
    if (key === 'err' && typeof err.message === 'string')
      return `err="${err.message}"${typeof err.code === 'string' ? ` code=${err.code}` : ''}`;
    return `${key}=${JSON.stringify(value)}`;
  }
  const s = String(value);
  return `${key}=${/[\s"=]/.test(s) ? JSON.stringify(s) : s}`;
}

export function formatLine(name: string, line: string, style: LineStyle): string {
  const prefix = name.padEnd(style.nameWidth);
  let entry: Record<string, unknown> | undefined;
  if (line.startsWith('{')) {
    try {
      const parsed: unknown = JSON.parse(line);
      if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed))
        entry = parsed as Record<string, unknown>;
    } catch {
      entry = undefined;
    }
  }
  if (entry === undefined) return `${clock(undefined)} ${prefix} │ ${line}`;
  const level = typeof entry['level'] === 'number' ? entry['level'] : 30;
  const label = LEVELS[level] ?? String(level).padEnd(5);
  const rest = Object.entries(entry)
    .filter(([k]) => !HIDDEN.has(k))
    .map(([k, v]) => field(k, v))
    .join(' ');
  const msg = typeof entry['msg'] === 'string' ? entry['msg'] : '';
  const colour = style.colour ? (COLOURS[level] ?? '') : '';
  const tail = rest === '' ? '' : style.colour ? `  ${DIM}${rest}${RESET}` : `  ${rest}`;
  return `${clock(entry['time'])} ${prefix} │ ${colour}${label}${colour === '' ? '' : RESET} ${msg}${tail}`;
}
