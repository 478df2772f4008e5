/**
 * Scale rules: from a block's statistics to its scale code, the decoded scale,
 * and the multiplier applied to each element before rounding. Every float
 * operation is an explicit fl32 (Math.fround of an exact float64 result,
 * which equals the correctly rounded binary32 operation).
 */
import {
  codec,
  floorLog2,
  NEAREST_EVEN,
  pow2,
  roundToInteger,
  type Codec,
  type Encoder,
} from "../formats/index.js";
import { elementEmax, elementMax, type Scheme } from "../scheme.js";

const fl32 = Math.fround;

export interface BlockStats {
  /** max |x| over the block's finite elements */
  amax: number;
  /** min and max over the block (for minmax) */
  min: number;
  max: number;
  /** the block holds a NaN or an Inf */
  nonfinite: boolean;
}

export interface BlockScale {
  /** the stored scale code */
  code: number;
  /** its value */
  value: number;
  /** elements are rounded from fl32(x * mult) */
  mult: number;
  /** integer zero point (minmax), else 0 */
  zero: number;
}

/** The per-tensor second level of NVFP4-style schemes. */
export interface TensorScale {
  /** max |x| over the tensor's finite elements */
  amax: number;
  /** encode multiplier S_enc = fl32(Qmax_scale * Qmax_elem / amax) */
  encode: number;
  /** stored decode scale D = fl32(amax / (Qmax_scale * Qmax_elem)), ModelOpt's weight_scale_2 */
  decode: number;
}

export function tensorScale(s: Scheme, tensorAmax: number): TensorScale {
  const ts = codec(s.tensorScale!);
  const range = fl32(codec(s.scale.format).maxFinite * elementMax(s));
  const encode = fl32(range / tensorAmax);
  const decode = ts.decode(ts.encode(fl32(tensorAmax / range), NEAREST_EVEN, "saturate"));
  if (tensorAmax === 0 || !Number.isFinite(encode) || decode === 0)
    return { amax: tensorAmax, encode: 1, decode: 1 };
  return { amax: tensorAmax, encode, decode };
}

/** Everything a scale rule needs that depends only on the scheme. */
export class ScaleRuleContext {
  readonly scale: Codec;
  /** scales round to nearest even and saturate, whatever the element rounding */
  private readonly encodeScale: Encoder;
  readonly qmax: number;
  readonly emax: number;
  /** smallest and largest power-of-two exponent the scale format holds */
  readonly kmin: number;
  readonly kmax: number;
  /** element mantissa width for the `even` rule */
  readonly mbits: number;

  constructor(
    readonly scheme: Scheme,
    readonly sEnc = 1,
  ) {
    this.scale = codec(scheme.scale.format);
    this.encodeScale = this.scale.encoder(NEAREST_EVEN, "saturate");
    this.qmax = elementMax(scheme);
    this.emax = elementEmax(scheme);
    this.kmin = floorLog2(this.scale.minPositive);
    this.kmax = floorLog2(this.scale.maxFinite);
    const e = scheme.element;
    this.mbits =
      e.kind === "float" ? e.mantissa : e.kind === "int" ? e.bits - (e.signed ? 2 : 1) : 0;
  }

  nanScale(): BlockScale {
    return { code: this.scale.nanCode, value: NaN, mult: NaN, zero: 0 };
  }

  blockScale(st: BlockStats): BlockScale {
    if (st.nonfinite) return this.nanScale();
    switch (this.scheme.scale.rule) {
      case "floor":
        return this.powerOfTwo(st.amax === 0 ? -Infinity : floorLog2(st.amax) - this.emax);
      case "ceil":
        return this.powerOfTwo(st.amax === 0 ? -Infinity : ceilLog2(st.amax) - this.emax);
      case "rceil": {
        const r = fl32(st.amax / this.qmax);
        return this.powerOfTwo(r === 0 ? -Infinity : ceilLog2(r));
      }
      case "even": {
        const a = st.amax === 0 ? 0 : roundMantissa(st.amax, this.mbits);
        return this.powerOfTwo(a === 0 ? -Infinity : floorLog2(a) - this.emax);
      }
      case "amax":
        return this.fromValue(fl32(fl32(st.amax * this.sEnc) / this.qmax));
      case "minmax":
        return this.minmax(st);
    }
  }

  /** Scale 2^k: below the format's range it clamps up, above it the block is NaN (OCP MX). */
  private powerOfTwo(k: number): BlockScale {
    if (k > this.kmax) return this.nanScale();
    const kk = Math.max(k, this.kmin);
    const value = pow2(kk);
    return { code: this.encodeScale(value, 0), value, mult: fl32(1 / value), zero: 0 };
  }

  /** Scale = r rounded to the scale format (RNE, saturating); a zero scale zeroes the block. */
  private fromValue(r: number): BlockScale {
    const code = this.encodeScale(r, 0);
    const value = this.scale.decode(code);
    return { code, value, mult: value === 0 ? 0 : fl32(this.sEnc / value), zero: 0 };
  }

  /** GPTQ-style asymmetric range: [min(x, 0), max(x, 0)]; an all-zero block uses [-1, 1]. */
  private minmax(st: BlockStats): BlockScale {
    let lo = Math.min(st.min, 0);
    let hi = Math.max(st.max, 0);
    if (lo === hi) [lo, hi] = [-1, 1];
    let code = this.encodeScale(fl32(fl32(hi - lo) / this.qmax), 0);
    let value = this.scale.decode(code);
    if (value === 0) {
      // the range underflowed the scale format: use its smallest positive value
      code = this.encodeScale(this.scale.minPositive, 0);
      value = this.scale.minPositive;
    }
    const mult = fl32(1 / value);
    const zero = Math.min(
      this.qmax,
      Math.max(0, roundToInteger(fl32(-lo * mult), NEAREST_EVEN, 0)),
    );
    return { code, value, mult, zero };
  }
}

function ceilLog2(a: number): number {
  const e = floorLog2(a);
  return a === pow2(e) ? e : e + 1;
}

/** a rounded to `mbits` fraction bits, ties to even, with unbounded exponent. */
function roundMantissa(a: number, mbits: number): number {
  const q = pow2(floorLog2(a) - mbits);
  return roundToInteger(a / q, NEAREST_EVEN, 0) * q;
}
