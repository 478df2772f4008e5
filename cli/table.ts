/** Plain-text tables with aligned columns, and the number formats they use. */

export interface Column {
  readonly header: string;
  /** numbers read best right-aligned */
  readonly align?: "left" | "right";
}

/** Renders rows under a header; the last column is never padded on the right. */
export function renderTable(
  columns: readonly Column[],
  rows: readonly (readonly string[])[],
): string {
  const all = [columns.map((c) => c.header), ...rows];
  const widths = columns.map((_, k) => Math.max(...all.map((r) => r[k].length)));
  const line = (r: readonly string[]) =>
    r
      .map((cell, k) =>
        columns[k].align === "right" ? cell.padStart(widths[k]) : cell.padEnd(widths[k]),
      )
      .join("  ")
      .trimEnd();
  return all.map(line).join("\n") + "\n";
}

/** Up to 6 significant digits, no trailing zeros: 448, 0.00195312, 1.70141e+38. */
export function fmtNumber(v: number): string {
  return Number.isFinite(v) ? String(Number(v.toPrecision(6))) : String(v);
}

/** Fixed decimals with trailing zeros removed: 4.25, 4.5, 8. */
export function fmtFixed(v: number, decimals: number): string {
  return Number.isFinite(v) ? String(Number(v.toFixed(decimals))) : String(v);
}

export function fmtExp(v: number): string {
  return Number.isFinite(v) ? v.toExponential(3) : String(v);
}

/** JSON with NaN and +-Infinity written as the strings "NaN", "Infinity", "-Infinity". */
export function toJson(value: unknown): string {
  return (
    JSON.stringify(
      value,
      (_k, v) => (typeof v === "number" && !Number.isFinite(v) ? String(v) : v),
      2,
    ) + "\n"
  );
}
