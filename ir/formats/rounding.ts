/**
 * Rounding a magnitude to one of its two representable neighbours. Every format
 * (float, integer, table) reduces encoding to this choice, so the rounding
 * modes mean the same thing everywhere.
 */

export type RoundingMode =
  /** nearest, ties to the even code (IEEE default; OCP, torchao, TE, PTX cvt.rn) */
  | "nearest_even"
  /** nearest, ties away from zero (microxcaling "nearest") */
  | "nearest_away"
  /** nearest, ties to the lower value, i.e. toward -Inf (bitsandbytes' NF4) */
  | "nearest_lower"
  /** truncate the magnitude */
  | "toward_zero"
  /** round away from zero with probability given by the discarded fraction (see `roundUp`) */
  | "stochastic";

export const ROUNDING_MODES: readonly RoundingMode[] = [
  "nearest_even",
  "nearest_away",
  "nearest_lower",
  "toward_zero",
  "stochastic",
];

/** What happens to a magnitude beyond the format's largest finite value. */
export type OverflowPolicy =
  /** clamp to +-max (OCP MX conversions, PTX .satfinite) */
  | "saturate"
  /** become Inf, or NaN where the format has NaN but no Inf; formats with neither saturate */
  | "propagate";

export interface Rounding {
  readonly mode: RoundingMode;
  /** random bits per element for `stochastic` (1..32, default 8) */
  readonly randomBits: number;
}

export const NEAREST_EVEN: Rounding = { mode: "nearest_even", randomBits: 8 };

/**
 * Decides whether magnitude `a` in [lo, hi) rounds up to `hi`.
 * `loIsEven`: the code of `lo` is even. `negative`: the sign of the value being
 * rounded (only `nearest_lower` looks at it). `random`: `bits` uniform random bits.
 *
 * Stochastic rounding follows the hardware definition (PTX cvt.rs): the discarded
 * fraction t = (a - lo) / (hi - lo) is truncated to `bits` bits and added to the
 * random bits; a carry out rounds up. So P(up) = floor(t * 2^bits) / 2^bits.
 */
export function roundUp(
  a: number,
  lo: number,
  hi: number,
  loIsEven: boolean,
  negative: boolean,
  mode: RoundingMode,
  random: number,
  bits: number,
): boolean {
  if (a === lo) return false;
  switch (mode) {
    case "toward_zero":
      return false;
    case "stochastic": {
      const scale = 2 ** bits;
      return Math.floor(((a - lo) / (hi - lo)) * scale) + random >= scale;
    }
    default: {
      const mid = (lo + hi) / 2; // exact: callers guarantee lo + hi has no rounding error
      if (a !== mid) return a > mid;
      if (mode === "nearest_even") return !loIsEven;
      if (mode === "nearest_away") return true;
      return negative; // nearest_lower: toward -Inf, i.e. up in magnitude when negative
    }
  }
}
