/**
 * The vector form of a lowered element encoder (a float32 memo with the exact
 * encoder behind it, encoder-probe.ts), chosen at compile time:
 *   - key-and-swizzle (swizzle.ts) when the codes fit four 16-byte tables:
 *     E2M1, whose RNE thresholds are all multiples of 2^21 in the bit domain;
 *   - rounding in integer lanes (round-encoder.ts) for any other grid of float
 *     or integer codes: FP6 E2M3/E3M2, FP8 E4M3/E5M2, INT4, INT8, MXINT8;
 *   - none: the memo gather stays (lane by lane). That is the case of lookup
 *     tables such as NF4, whose thresholds are midpoints of arbitrary values
 *     (no power-of-two key separates them), and of rounding modes other than
 *     nearest-even on a grid. `laneEncoder` says why.
 * Both forms are verified against the kernel's own encoder on every non-NaN
 * float32 (the grid only when the exact path is a lowered encoder,
 * lowered-encoder.ts); NaN lanes run the exact scalar path.
 */
import type { Kernel, Stmt } from "../../ir/kernel.js";
import type { ExpressionRef as Ref, Module } from "./binaryen.js";
import { probeEncoder } from "./encoder-probe.js";
import { isLoweredGrid } from "./lowered-encoder.js";
import { emitRoundEncoder, roundEncoder, type RoundEncoder } from "./round-encoder.js";
import { emitKeyEncoder, emitKeyEncoder16, keyEncoder, type KeyEncoder } from "./swizzle.js";

export type LaneEncoder =
  ({ readonly kind: "key" } & KeyEncoder) | ({ readonly kind: "round" } & RoundEncoder);

const cache = new WeakMap<Stmt, LaneEncoder | string>();

/** The vector encoder of `let m = memo[...]; if (m == S) {...}`, or why there is none. */
export function laneEncoder(k: Kernel, l: Stmt, next: Stmt): LaneEncoder | string {
  const hit = cache.get(l);
  if (hit !== undefined) return hit;
  const found = choose(k, l, next);
  cache.set(l, found);
  return found;
}

function choose(k: Kernel, l: Stmt, next: Stmt): LaneEncoder | string {
  const key = keyEncoder(k, l, next);
  if (key) return { kind: "key", ...key };
  const p = probeEncoder(k, l, next);
  if (!p) return "not a memo encoder";
  try {
    const r = roundEncoder(p);
    if (typeof r === "string") return `no 64-entry key table, and no grid: ${r}`;
    // the verification at piece ends covers each piece only for a lowered (deterministic) rounding
    const exact = next.op === "if" && l.op === "let" ? next.then : [];
    if (l.op !== "let" || !isLoweredGrid(exact, p.input, r, { assign: l.name }))
      return "the exact path fits a grid but is not the lowered encoder of a format with that grid";
    return { kind: "round", ...r };
  } catch {
    return "the exact path reads more than its input";
  }
}

/** codes of the f32x4 `bits` as i32x4 lanes; NaN lanes are undefined */
export function emitLaneEncoder(
  m: Module,
  bits: () => Ref,
  e: LaneEncoder,
  temp: () => number,
): Ref {
  return e.kind === "key" ? emitKeyEncoder(m, bits, e, temp) : emitRoundEncoder(m, bits, e, temp);
}

/** the 16 code bytes of four f32x4 `bits` (lanes 0-3, 4-7, 8-11, 12-15); NaN lanes are undefined */
export function emitLaneEncoder16(
  m: Module,
  bits: readonly (() => Ref)[],
  e: LaneEncoder,
  temp: () => number,
): Ref {
  if (e.kind === "key") return emitKeyEncoder16(m, bits, e, temp);
  const c = bits.map((b) => emitRoundEncoder(m, b, e, temp));
  // codes are at most 255: the unsigned saturating narrows keep them
  return m.i8x16.narrow_i16x8_u(
    m.i16x8.narrow_i32x4_u(c[0], c[1]),
    m.i16x8.narrow_i32x4_u(c[2], c[3]),
  );
}
