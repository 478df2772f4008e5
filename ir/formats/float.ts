/**
 * Exact encode/decode for ExMy floating-point formats, derived from the fields
 * of a FloatFormat. Codes are unsigned integers; the sign is the top bit.
 */
import type { FloatFormat } from "./format.js";
import { floorLog2, isNegative, pow2 } from "./bits.js";
import { roundUp, type OverflowPolicy, type Rounding } from "./rounding.js";

/** Derived constants of a float format: code ranges and the normal range. */
export interface FloatLayout {
  readonly format: FloatFormat;
  /** 2^(exponent + mantissa): the sign bit's value, and the number of magnitude codes */
  readonly signBit: number;
  readonly hasZero: boolean;
  /** exponent of the lowest binade */
  readonly emin: number;
  readonly minNormal: number;
  readonly maxFiniteCode: number;
  readonly maxFinite: number;
  readonly infCode: number | undefined;
  /** the code NaN inputs encode to (positive quiet NaN); undefined if the format has no NaN */
  readonly nanCode: number | undefined;
}

export function floatLayout(f: FloatFormat): FloatLayout {
  const m = f.mantissa;
  const signBit = pow2(f.exponent + m);
  const allOnes = signBit - 1;
  const infCode = f.specials === "ieee" ? (pow2(f.exponent) - 1) * pow2(m) : undefined;
  let maxFiniteCode = allOnes;
  let nanCode: number | undefined;
  if (f.specials === "ieee") {
    maxFiniteCode = infCode! - 1;
    nanCode = m > 0 ? infCode! + pow2(m - 1) : undefined;
  } else if (f.specials === "nan_only" || f.specials === "e8m0") {
    maxFiniteCode = allOnes - 1;
    nanCode = allOnes;
  }
  const hasZero = f.specials !== "e8m0";
  const emin = hasZero ? 1 - f.bias : -f.bias;
  const layout = {
    format: f,
    signBit,
    hasZero,
    emin,
    minNormal: pow2(emin),
    maxFiniteCode,
    maxFinite: 0,
    infCode,
    nanCode,
  };
  layout.maxFinite = decodeFloatMagnitude(layout, maxFiniteCode);
  return layout;
}

function decodeFloatMagnitude(l: FloatLayout, c: number): number {
  const f = l.format;
  if (l.infCode !== undefined && c >= l.infCode) return c === l.infCode ? Infinity : NaN;
  if (c > l.maxFiniteCode) return NaN;
  const scale = pow2(f.mantissa);
  const e = Math.floor(c / scale);
  const frac = c - e * scale;
  if (e === 0 && l.hasZero) return f.subnormals ? frac * pow2(l.emin - f.mantissa) : 0;
  return (scale + frac) * pow2(e - f.bias - f.mantissa);
}

export function decodeFloat(l: FloatLayout, code: number): number {
  const negative = l.format.signed && code >= l.signBit;
  const v = decodeFloatMagnitude(l, negative ? code - l.signBit : code);
  return negative ? -v : v;
}

/**
 * Encodes x (any float64) exactly: the result is the rounding of the real value
 * x, not of some intermediate. `random` feeds stochastic rounding.
 */
export function encodeFloat(
  l: FloatLayout,
  x: number,
  rounding: Rounding,
  overflow: OverflowPolicy,
  random: number,
): number {
  if (x !== x) return l.nanCode ?? 0; // NaN into a NaN-less format: only reachable inside a NaN block
  const f = l.format;
  const negative = isNegative(x);
  if (negative && !f.signed) return 0; // unsigned formats clamp negatives to their smallest value
  const a = Math.abs(x);
  let mag: number;
  if (a === Infinity) {
    mag = overflowCode(l, rounding, overflow);
  } else if (a < l.minNormal) {
    mag = roundBelowNormal(l, a, negative, rounding, random);
  } else {
    const e = floorLog2(a);
    const q = pow2(e - f.mantissa);
    const n = Math.floor(a / q);
    const lo = n * q;
    const codeLo = (e + f.bias - 1) * pow2(f.mantissa) + n;
    mag = codeLo;
    if (roundUp(a, lo, lo + q, codeLo % 2 === 0, negative, rounding.mode, random, rounding.randomBits))
      mag += 1;
    if (mag > l.maxFiniteCode) mag = overflowCode(l, rounding, overflow);
  }
  if (mag === l.nanCode) return mag;
  return negative ? mag + l.signBit : mag;
}

function roundBelowNormal(
  l: FloatLayout,
  a: number,
  negative: boolean,
  rounding: Rounding,
  random: number,
): number {
  const f = l.format;
  if (!l.hasZero) return 0; // the lowest code is the smallest value
  const { mode, randomBits } = rounding;
  if (!f.subnormals) {
    const up = roundUp(a, 0, l.minNormal, true, negative, mode, random, randomBits);
    return up ? pow2(f.mantissa) : 0;
  }
  const q = pow2(l.emin - f.mantissa);
  const n = Math.floor(a / q);
  return n + (roundUp(a, n * q, (n + 1) * q, n % 2 === 0, negative, mode, random, randomBits) ? 1 : 0);
}

function overflowCode(l: FloatLayout, rounding: Rounding, overflow: OverflowPolicy): number {
  // IEEE 754: rounding toward zero never overflows to Inf.
  if (overflow === "saturate" || rounding.mode === "toward_zero") return l.maxFiniteCode;
  return l.infCode ?? l.nanCode ?? l.maxFiniteCode;
}
