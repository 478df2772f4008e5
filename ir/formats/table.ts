/** Lookup-table formats (NF4 and any 2^b explicit values): nearest value by search. */
import type { TableFormat } from "./format.js";
import type { Rounding } from "./rounding.js";

export interface TableLayout {
  readonly format: TableFormat;
  /** values in ascending order, and the code of each */
  readonly sorted: Float64Array;
  readonly codeOf: Uint16Array;
}

export function tableLayout(f: TableFormat): TableLayout {
  const order = f.values.map((_, code) => code).sort((a, b) => f.values[a] - f.values[b]);
  return {
    format: f,
    sorted: Float64Array.from(order, (c) => f.values[c]),
    codeOf: Uint16Array.from(order),
  };
}

export function decodeTable(l: TableLayout, code: number): number {
  return l.format.values[code];
}

/**
 * Nearest table value. Values outside [min, max] clamp. The modes act on the two
 * neighbours of x: ties follow the mode (nearest_even: the even code), and
 * toward_zero takes the neighbour of smaller magnitude. Stochastic rounding is
 * not defined for tables (the checker rejects it).
 */
export function encodeTable(l: TableLayout, x: number, rounding: Rounding): number {
  const s = l.sorted;
  if (x !== x) return l.codeOf[nearestZeroIndex(s)];
  if (x <= s[0]) return l.codeOf[0];
  if (x >= s[s.length - 1]) return l.codeOf[s.length - 1];
  let lo = 0;
  let hi = s.length - 1; // invariant: s[lo] <= x < s[hi]
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (s[mid] <= x) lo = mid;
    else hi = mid;
  }
  return l.codeOf[roundsUp(l, x, lo, hi, rounding) ? hi : lo];
}

function roundsUp(l: TableLayout, x: number, lo: number, hi: number, rounding: Rounding): boolean {
  const a = l.sorted[lo];
  const b = l.sorted[hi];
  if (x === a) return false;
  switch (rounding.mode) {
    case "toward_zero":
      return Math.abs(b) < Math.abs(a);
    case "stochastic":
      throw new Error(
        `format ${l.format.name}: stochastic rounding is not defined for table formats`,
      );
    default: {
      const mid = (a + b) / 2; // exact: validateFormat checks a + b has no rounding error
      if (x !== mid) return x > mid;
      if (rounding.mode === "nearest_even") return l.codeOf[hi] % 2 === 0;
      if (rounding.mode === "nearest_away") return Math.abs(b) > Math.abs(a);
      return false; // nearest_lower
    }
  }
}

function nearestZeroIndex(s: Float64Array): number {
  let best = 0;
  for (let i = 1; i < s.length; i++) if (Math.abs(s[i]) < Math.abs(s[best])) best = i;
  return best;
}
