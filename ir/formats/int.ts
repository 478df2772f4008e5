/** Exact encode/decode for two's-complement and unsigned fixed-point integer formats. */
import type { IntFormat } from "./format.js";
import { isNegative, pow2 } from "./bits.js";
import { roundUp, type Rounding } from "./rounding.js";

export interface IntLayout {
  readonly format: IntFormat;
  /** integer range accepted by encode */
  readonly minInt: number;
  readonly maxInt: number;
  readonly codes: number;
  /** 2^-shift: the value of integer 1 */
  readonly step: number;
}

export function intLayout(f: IntFormat): IntLayout {
  const codes = pow2(f.bits);
  const maxInt = f.signed ? codes / 2 - 1 : codes - 1;
  const minInt = !f.signed ? 0 : f.range === "symmetric" ? -maxInt : -codes / 2;
  return { format: f, minInt, maxInt, codes, step: pow2(-f.shift) };
}

export function intOfCode(l: IntLayout, code: number): number {
  return l.format.signed && code >= l.codes / 2 ? code - l.codes : code;
}

export function decodeInt(l: IntLayout, code: number): number {
  return intOfCode(l, code) * l.step;
}

/** Rounds a float64 to an integer (unbounded) under a rounding mode, on its magnitude. */
export function roundToInteger(v: number, rounding: Rounding, random: number): number {
  const negative = isNegative(v);
  const a = Math.abs(v);
  const lo = Math.floor(a);
  const up = roundUp(
    a,
    lo,
    lo + 1,
    lo % 2 === 0,
    negative,
    rounding.mode,
    random,
    rounding.randomBits,
  );
  const m = up ? lo + 1 : lo;
  return negative ? -m : m;
}

export function encodeInt(l: IntLayout, x: number, rounding: Rounding, random: number): number {
  if (x !== x) return 0; // NaN: only reachable inside a NaN block (integers have no NaN code)
  const n = roundToInteger(x / l.step, rounding, random);
  const clamped = Math.min(l.maxInt, Math.max(l.minInt, n)); // integers have no Inf: always saturate
  return clamped < 0 ? clamped + l.codes : clamped + 0; // + 0 turns -0 into 0
}
