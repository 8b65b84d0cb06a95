/**
 * Plain-text tables for stdout (aligned columns; long cells wrapped onto extra lines so the table
 * stays readable in a terminal) and Markdown tables for the README.
 */

export type Cell = string | number;

/** Column options: right-aligned (numbers) and/or wrapped at a width. */
export interface Column {
  readonly header: string;
  readonly align?: 'left' | 'right';
  readonly wrap?: number;
}

/** Format a number for a table: thousands separators, at most 2 decimals. */
export function num(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2;
  return value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

/** Render `key=value` pairs, numbers formatted. */
export function extraText(extra: Readonly<Record<string, number | string | boolean>>): string {
  return Object.entries(extra)
    .map(([key, value]) => `${key}=${typeof value === 'number' ? num(value) : String(value)}`)
    .join(', ');
}

function wrapText(text: string, width: number): string[] {
  if (text.length <= width) return [text];
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  if (line !== '') lines.push(line);
  return lines;
}

/** An aligned plain-text table. */
export function textTable(columns: readonly Column[], rows: readonly (readonly Cell[])[]): string {
  const cells = rows.map((row) =>
    columns.map((col, i) => {
      const raw = row[i] ?? '';
      const text = typeof raw === 'number' ? num(raw) : raw;
      return col.wrap ? wrapText(text, col.wrap) : [text];
    }),
  );
  const widths = columns.map((col, i) => Math.max(col.header.length, ...cells.map((row) => Math.max(...row[i]!.map((l) => l.length)))));
  const pad = (text: string, i: number): string => (columns[i]!.align === 'right' ? text.padStart(widths[i]!) : text.padEnd(widths[i]!));
  const out: string[] = [];
  out.push(
    columns
      .map((col, i) => pad(col.header, i))
      .join('  ')
      .trimEnd(),
  );
  out.push(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of cells) {
    const height = Math.max(...row.map((c) => c.length));
    for (let l = 0; l < height; l++)
      out.push(
        row
          .map((c, i) => pad(c[l] ?? '', i))
          .join('  ')
          .trimEnd(),
      );
  }
  return out.join('\n');
}

/** A Markdown table (pipes in cells escaped). */
export function markdownTable(columns: readonly Column[], rows: readonly (readonly Cell[])[]): string {
  const esc = (cell: Cell): string => (typeof cell === 'number' ? num(cell) : cell).replaceAll('|', '\\|');
  const lines = [
    `| ${columns.map((c) => c.header).join(' | ')} |`,
    `| ${columns.map((c) => (c.align === 'right' ? '---:' : '---')).join(' | ')} |`,
    ...rows.map((row) => `| ${columns.map((_, i) => esc(row[i] ?? '')).join(' | ')} |`),
  ];
  return lines.join('\n');
}
