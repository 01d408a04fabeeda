// SPDX-License-Identifier: Apache-2.0
// Plain aligned text tables for the console: numbers right-aligned, everything else left-aligned.

export function textTable(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, c) => Math.max(...cells.map((r) => (r[c] ?? '').length)));
  const numeric = header.map((_, c) => rows.length > 0 && rows.every((r) => /^[-\d.,~±()\[\] ]*$/.test(String(r[c] ?? ''))));
  const line = (r: string[]): string =>
    r.map((v, c) => (numeric[c] ? v.padStart(widths[c]!) : v.padEnd(widths[c]!))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

/** 3 significant figures, thousands kept whole: 56.3, 169, 12345 */
export function fmt(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return '-';
  if (Math.abs(n) >= 100) return Math.round(n).toString();
  return Number(n.toPrecision(3)).toString();
}
