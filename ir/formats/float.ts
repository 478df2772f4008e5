/**
 * Exact encode/decode for ExMy floating-point formats, derived from the fields
 * of a FloatFormat. Codes are unsigned integers; the sign is the top bit.
 */
import type { FloatFormat } from "./format.js";
import { floorLog2, pow2 } from "./bits.js";
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
 * An encoder for x (any float64): the result is the exact rounding of the real
 * value x, not of some intermediate. `random` feeds stochastic rounding. The
 * constants are bound once so the per-element path stays small.
 */
export function floatEncoder(
  l: FloatLayout,
  rounding: Rounding,
  overflow: OverflowPolicy,
): (x: number, random: number) => number {
  const { mode, randomBits } = rounding;
  const f = l.format;
  const m = f.mantissa;
  const signed = f.signed;
  const signBit = l.signBit;
  const minNormal = l.minNormal;
  const maxFiniteCode = l.maxFiniteCode;
  const nanCode = l.nanCode;
  const codeBase = (f.bias - 1) * pow2(m);
  const infinityCode =
    overflow === "saturate" ? maxFiniteCode : (l.infCode ?? nanCode ?? maxFiniteCode);
  // IEEE 754: rounding toward zero never overflows to Inf (an Inf input is exact, not an overflow).
  const overflowCode = mode === "toward_zero" ? maxFiniteCode : infinityCode;
  const subnormalQuantum = pow2(l.emin - m);
  const minNormalCode = pow2(m);

  return (x, random) => {
    if (x !== x) return nanCode ?? 0; // NaN into a NaN-less format: only reachable inside a NaN block
    const negative = x < 0 || (x === 0 && 1 / x < 0);
    if (negative && !signed) return 0; // unsigned formats clamp negatives to their smallest value
    const a = Math.abs(x);
    let mag: number;
    if (a < minNormal) {
      if (!l.hasZero) {
        mag = 0; // the lowest code is the smallest value
      } else if (!f.subnormals) {
        mag = roundUp(a, 0, minNormal, true, negative, mode, random, randomBits)
          ? minNormalCode
          : 0;
      } else {
        const n = Math.floor(a / subnormalQuantum);
        const lo = n * subnormalQuantum;
        const up = roundUp(
          a,
          lo,
          lo + subnormalQuantum,
          (n & 1) === 0,
          negative,
          mode,
          random,
          randomBits,
        );
        mag = up ? n + 1 : n;
      }
    } else if (a === Infinity) {
      mag = infinityCode;
    } else {
      const e = floorLog2(a);
      const q = pow2(e - m);
      const n = Math.floor(a * pow2(m - e)); // a / q, exact
      const lo = n * q;
      const codeLo = e * minNormalCode + codeBase + n; // (e + bias - 1) * 2^m + n
      mag = roundUp(a, lo, lo + q, (codeLo & 1) === 0, negative, mode, random, randomBits)
        ? codeLo + 1
        : codeLo;
      if (mag > maxFiniteCode) mag = overflowCode;
    }
    if (mag === nanCode) return mag;
    return negative ? mag + signBit : mag;
  };
}
