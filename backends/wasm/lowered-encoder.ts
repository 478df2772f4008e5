/**
 * Whether statements are passes/lower/encode.ts lowerEncode (round to
 * nearest even) of an f32 into some format with a fitted grid's step
 * (round-encoder.ts). The grid verifiers check the kernel's code at the
 * ends of each piece where the grid is one code; that covers every input of
 * the piece only for a deterministic rounding, which sends an interval of
 * inputs to each code. Lowered encoders are that; other code that happens
 * to fit a grid at the piece ends need not be, so it is refused. The
 * candidate formats are those the grid allows (its mantissa and smallest
 * step; exponent width, bias, sign, subnormals, specials and overflow tried
 * in turn), a few hundred lowerings of ~20 lets at compile time.
 */
import { K, type Stmt } from "../../ir/kernel.js";
import { sameRenamed } from "../../ir/kernel-walk.js";
import {
  floatFormat,
  intFormat,
  NEAREST_EVEN,
  type Format,
  type OverflowPolicy,
} from "../../ir/formats/index.js";
import { Block } from "../../passes/lower/builder.js";
import { lowerEncode } from "../../passes/lower/encode.js";
import { INF_BITS } from "./encoder-probe.js";
import type { RoundEncoder } from "./round-encoder.js";

/** how the statements end: the code in a let named `output`, or assigned to `assign` */
export type EncoderEnd = { readonly output: string } | { readonly assign: string };

/** whether `stmts` are, up to the names of their lets, lowerEncode of `input` into `f` */
export function isLowered(
  stmts: readonly Stmt[],
  input: string,
  f: Format,
  overflow: OverflowPolicy,
  end: EncoderEnd,
): boolean {
  const b = new Block("f");
  const code = lowerEncode(b, f, NEAREST_EVEN, overflow, K.v(input, "f32"));
  const lowered = "assign" in end ? [...b.stmts, K.assign(end.assign, code)] : b.stmts;
  if (lowered.length !== stmts.length) return false;
  const names = new Map<string, string>();
  lowered.forEach((s, i) => {
    const t = stmts[i];
    if (s.op === "let" && t.op === "let") names.set(s.name, t.name);
  });
  if ("output" in end && (code.op !== "var" || names.get(code.name) !== end.output)) return false;
  return sameRenamed(stmts, lowered, names);
}

/** the formats whose lowered encoder may have the grid `e` */
function* candidates(e: RoundEncoder): Generator<Format> {
  const q = (e.magic >>> 23) - 127 - 23;
  const tryFormat = (make: () => Format): Format | undefined => {
    try {
      return make();
    } catch {
      return undefined; // no such format
    }
  };
  if (e.normal >= INF_BITS) {
    for (let bits = 2; bits <= 16; bits++)
      for (const signed of [true, false])
        for (const range of ["full", "symmetric"] as const) {
          const f = tryFormat(() => intFormat("grid", { bits, signed, range, shift: -q }));
          if (f) yield f;
        }
    return;
  }
  const mantissa = 23 - e.shift;
  const emin = q + mantissa;
  for (let exponent = 1; exponent <= 8; exponent++)
    for (const bias of [1 - emin, -emin])
      for (const signed of [true, false])
        for (const subnormals of [true, false])
          for (const specials of ["none", "nan_only", "ieee", "e8m0"] as const) {
            const f = tryFormat(() =>
              floatFormat("grid", { exponent, mantissa, bias, signed, subnormals, specials }),
            );
            if (f) yield f;
          }
}

/** whether `stmts` are the lowered encoder of `input` into a format with the grid `e` */
export function isLoweredGrid(
  stmts: readonly Stmt[],
  input: string,
  e: RoundEncoder,
  end: EncoderEnd,
): boolean {
  for (const f of candidates(e))
    for (const overflow of ["saturate", "propagate"] as const)
      if (isLowered(stmts, input, f, overflow, end)) return true;
  return false;
}

