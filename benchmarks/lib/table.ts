/**
 * Plain-text tables for stdout (aligned columns; long cells wrapped onto extra lines so the table
 * fits a terminal: `MAX_WIDTH` columns by default) and Markdown tables for the README. Durations
 * are printed with a unit chosen per value (`formatDuration`).
 */

/** Width every plain-text table fits in (terminal columns). */
export const MAX_WIDTH = 120;

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

/**
 * A duration given in µs, with three significant digits and the unit that suits the value:
 * `850 ns`, `8.52 µs`, `850 µs`, `12.3 ms`, `1.2 s` (trailing zeros dropped). `—` for null / NaN.
 */
export function formatDuration(us: number | null | undefined): string {
  if (us === null || us === undefined || !Number.isFinite(us)) return '—';
  if (us === 0) return '0';
  const units: [string, number][] = [
    ['ns', 1e-3],
    ['µs', 1],
    ['ms', 1e3],
    ['s', 1e6],
  ];
  const abs = Math.abs(us);
  let index = abs < 1 ? 0 : abs < 1e3 ? 1 : abs < 1e6 ? 2 : 3;
  let scaled = Number((us / units[index]![1]).toPrecision(3));
  // 999.7 µs rounds to 1000 µs: that is 1 ms.
  if (Math.abs(scaled) >= 1000 && index < units.length - 1) {
    index += 1;
    scaled = Number((us / units[index]![1]).toPrecision(3));
  }
  const text = Math.abs(scaled) >= 1000 ? Math.round(scaled).toLocaleString('en-US') : String(scaled);
  return `${text} ${units[index]![0]}`;
}

/**
 * Render `key=value` pairs, numbers formatted; a key ending in `Us` or `Ms` (a duration in µs or ms)
 * loses the suffix and its value is printed with its own unit (`cycleP99Us=1840` → `cycleP99=1.84 ms`).
 */
export function extraText(extra: Readonly<Record<string, number | string | boolean>>): string {
  return Object.entries(extra)
    .map(([key, value]) => {
      if (typeof value === 'number') {
        const unit = /(Us|Ms)$/.exec(key)?.[1];
        // A no-break space keeps the number and its unit on one line when the text is wrapped.
        if (unit !== undefined) return `${key.slice(0, -2)}=${formatDuration(unit === 'Ms' ? value * 1000 : value).replace(' ', '\u00a0')}`;
        return `${key}=${num(value)}`;
      }
      return `${key}=${String(value)}`;
    })
    .join(', ');
}

/** `text` wrapped at spaces into lines of at most `width` (a longer word is cut). */
export function wrapLines(text: string, width: number, indent = ''): string[] {
  return wrapText(text, width - indent.length).map((line) => `${indent}${line}`);
}

function wrapText(text: string, width: number): string[] {
  if (text.length <= width) return [text];
  const lines: string[] = [];
  let line = '';
  const words = text.split(' ').flatMap((word) => {
    const parts: string[] = [];
    for (let i = 0; i < word.length; i += width) parts.push(word.slice(i, i + width));
    return parts;
  });
  for (const word of words) {
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

/**
 * An aligned plain-text table. When it would be wider than `maxWidth` (default `MAX_WIDTH`), the
 * widest wrapped columns are narrowed (not below 8 characters) until it fits.
 */
export function textTable(columns: readonly Column[], rows: readonly (readonly Cell[])[], maxWidth: number = MAX_WIDTH): string {
  const texts = rows.map((row) =>
    columns.map((_, i) => {
      const raw = row[i] ?? '';
      return typeof raw === 'number' ? num(raw) : raw;
    }),
  );
  const natural = columns.map((col, i) => Math.max(col.header.length, ...texts.map((row) => row[i]!.length)));
  const wraps = columns.map((col, i) => (col.wrap === undefined ? undefined : Math.min(col.wrap, natural[i]!)));
  const total = (): number => columns.reduce((sum, _, i) => sum + (wraps[i] ?? natural[i]!), 0) + 2 * (columns.length - 1);
  while (total() > maxWidth) {
    let widest = -1;
    for (let i = 0; i < columns.length; i++) {
      const w = wraps[i];
      if (w !== undefined && w > Math.max(8, columns[i]!.header.length) && (widest < 0 || w > wraps[widest]!)) widest = i;
    }
    if (widest < 0) break;
    wraps[widest] = wraps[widest]! - 1;
  }
  const cells = texts.map((row) => row.map((text, i) => (wraps[i] === undefined ? [text] : wrapText(text, wraps[i]))));
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
