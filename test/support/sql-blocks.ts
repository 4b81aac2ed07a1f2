/** One fenced ```sql block of a markdown file and the heading it sits under. */
export interface SqlBlock {
  /** Text of the nearest heading above the block; "(2)", "(3)"… added when a heading has several. */
  heading: string;
  sql: string;
}

/**
 * The ```sql blocks of `markdown`, in order, each named after the heading above it, so a test
 * running a document's queries can name each case after the query.
 */
export function sqlBlocks(markdown: string): SqlBlock[] {
  const blocks: SqlBlock[] = [];
  const seen = new Map<string, number>();
  let heading = '(no heading)';
  let fence: { lang: string; marker: string; lines: string[] } | undefined;
  for (const line of markdown.split(/\r?\n/)) {
    if (fence !== undefined) {
      if (line.trim() === fence.marker) {
        if (fence.lang === 'sql') {
          const n = (seen.get(heading) ?? 0) + 1;
          seen.set(heading, n);
          blocks.push({ heading: n === 1 ? heading : `${heading} (${n})`, sql: fence.lines.join('\n') });
        }
        fence = undefined;
      } else {
        fence.lines.push(line);
      }
      continue;
    }
    const open = /^\s*(`{3,}|~{3,})\s*([\w-]*)/.exec(line);
    if (open) {
      fence = { marker: open[1]!, lang: open[2]!.toLowerCase(), lines: [] };
      continue;
    }
    const h = /^#{1,6}\s+(.+?)\s*#*\s*$/.exec(line);
    if (h) heading = h[1]!;
  }
  return blocks;
}
