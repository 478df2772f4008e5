/**
 * Element encoders as rounding in integer lanes, for the formats whose codes
 * are too many for swizzle tables (FP6, FP8, INT4, INT8: 100 to 600 keys).
 *
 * Every saturating round-to-nearest-even encoder onto a float or integer grid
 * is, on |v| (sign handled last):
 *   below 2^emin (subnormals, or the whole range of an integer grid): the
 *     count of steps 2^q, rounded once by an f32 add of 2^(q+23), whose ulp is
 *     2^q: bits(|v| + 2^(q+23)) - bits(2^(q+23));
 *   from 2^emin (normals, M mantissa bits): the f32 bits shifted right by
 *     R = 23 - M after adding 2^(R-1) - 1 plus the kept bit's parity (RNE with
 *     the sticky bits, the carry runs into the exponent), re-biased;
 *   then min(code, max code); +-Inf may have its own code; a negative input
 *   flips the sign bit (float formats) or negates (two's complement). The
 *   largest magnitude and that of -Inf may differ for negative inputs: a
 *   two's complement INT4 in -8..7 saturates -7.5 and below to -8, +7.5 and
 *   above to 7.
 * The grid is fitted to the kernel's own encoder (encoder-probe.ts) by probing
 * a few inputs (the first threshold above 0 gives q; the first power of two
 * whose code is not 2^j gives M), then verified on every non-NaN float32:
 * each memo prefix the memo decides must be one constant of the model, and on
 * each prefix the exact path decides, the exact code at both ends of every
 * piece where the model is constant must be the model's (deterministic
 * rounding sends an interval of inputs to each code, so agreement at the ends
 * of a piece is agreement on all of it). `roundCode` is the emitted vector
 * code written in JavaScript, lane for lane.
 */
import { binaryen, splatI32 as splat, type ExpressionRef as Ref, type Module } from "./binaryen.js";
import { fromBits, INF_BITS, toBits, type EncoderProbe } from "./encoder-probe.js";

export interface RoundEncoder {
  readonly input: string;
  /** bits of 2^(q + 23), q the exponent of the smallest step */
  readonly magic: number;
  /** bits of the smallest normal 2^emin; INF_BITS when every finite input is on the fixed-step grid */
  readonly normal: number;
  /** 23 - mantissa bits */
  readonly shift: number;
  /** subtracted from the shifted bits: (normal >> shift) - 2^mantissa */
  readonly offset: number;
  readonly maxCode: number;
  readonly infCode: number;
  /** the largest magnitude of a negative input and that of -Inf (before the sign is applied) */
  readonly negMax: number;
  readonly negInf: number;
  /** negative inputs: code ^ xor (sign-magnitude), or (-code) & mask (two's complement) */
  readonly sign: { readonly xor: number } | { readonly mask: number };
}

/** The encoder's code of the f32 bits `bits` (not NaN), computed as the vector code does. */
export function roundCode(e: RoundEncoder, bits: number): number {
  const a = (bits & 0x7fffffff) >>> 0;
  let c: number;
  if (a < e.normal) c = (toBits(fromBits(a) + fromBits(e.magic)) - e.magic) >>> 0;
  else {
    const half = (1 << (e.shift - 1)) - 1;
    c = ((((a + half + ((a >>> e.shift) & 1)) >>> 0) >>> e.shift) - e.offset) >>> 0;
  }
  const negative = bits >>> 31 !== 0;
  c = Math.min(c, negative ? e.negMax : e.maxCode);
  if (a === INF_BITS) c = negative ? e.negInf : e.infCode;
  if (!negative) return c;
  return "xor" in e.sign ? c ^ e.sign.xor : (0 - c) & e.sign.mask;
}

const pow2Bits = (e: number): number =>
  e >= -126 ? ((e + 127) << 23) >>> 0 : e >= -149 ? 1 << (e + 149) : 0;

/** The fitted and verified round encoder of `p`, or why there is none. */
export function roundEncoder(p: EncoderProbe): RoundEncoder | string {
  const e = fitRoundEncoder(p);
  return typeof e === "string" ? e : (verifyRoundEncoder(e, p) ?? e);
}

/** The grid of an encoder of f32 `input` whose code of the bits b is `exact(b)`, fitted, not verified. */
export function fitRoundEncoder(
  p: Pick<EncoderProbe, "input" | "exact">,
): RoundEncoder | string {
  const C = p.exact;
  if (C(0) !== 0) return `+0 encodes to ${C(0)}, not 0: no grid from zero (a lookup table)`;
  const maxCode = C(0x7f7fffff);
  if (maxCode === 0) return "every finite input encodes to 0";
  // the last input with code 0: half the smallest step (the tie rounds to the even code 0)
  let lo = 0;
  let hi = 0x7f7fffff;
  while (hi - lo > 1) {
    const mid = lo + Math.floor((hi - lo) / 2);
    if (C(mid) === 0) lo = mid;
    else hi = mid;
  }
  const halfStep = fromBits(lo);
  const q = Math.log2(halfStep) + 1;
  if (!Number.isInteger(q) || q + 23 > 127)
    return `the first rounding threshold ${halfStep} is not half a power of two`;
  // steps double per binade up to the normals: code(2^(q+j)) = 2^j until j = M + 2
  let normal = INF_BITS;
  let shift = 23;
  let offset = 0;
  for (let j = 1; q + j <= 127; j++) {
    const c = C(pow2Bits(q + j));
    if (c === 2 ** j) continue;
    if (c === maxCode) break; // saturated on the fixed-step grid: an integer format
    const mantissa = j - 2;
    if (mantissa < 0 || q + mantissa < -126) return `2^${q + j} encodes to ${c}: not a float grid`;
    normal = pow2Bits(q + mantissa);
    shift = 23 - mantissa;
    offset = (normal >>> shift) - 2 ** mantissa;
    break;
  }
  const xor = C(0x80000000);
  let sign: RoundEncoder["sign"] = { xor };
  if (xor === 0) {
    const mask = C((pow2Bits(q) | 0x80000000) >>> 0);
    if ((mask & (mask + 1)) !== 0 || mask <= maxCode)
      return `-2^${q} encodes to ${mask}: negative codes are neither sign-magnitude nor two's complement`;
    sign = { mask };
  }
  // the magnitude whose negative code is `code` (both sign rules are their own inverse)
  const magnitude = (code: number) =>
    "xor" in sign ? (code ^ sign.xor) >>> 0 : (0 - code) & sign.mask;
  return {
    input: p.input,
    magic: pow2Bits(q + 23),
    normal,
    shift,
    offset,
    maxCode,
    infCode: C(INF_BITS),
    negMax: magnitude(C(0xff7fffff)),
    negInf: magnitude(C((INF_BITS | 0x80000000) >>> 0)),
    sign,
  };
}

/** undefined when `e` equals the probed encoder on every non-NaN float32, else the first difference */
export function verifyRoundEncoder(e: RoundEncoder, p: EncoderProbe): string | undefined {
  const differs = (bits: number, want: number) =>
    `differs from the exact encoder at ${fromBits(bits)} (bits 0x${bits.toString(16)}): ${roundCode(e, bits)}, not ${want}`;
  for (let prefix = 0; prefix < 65536; prefix++) {
    const lo = (prefix << 16) >>> 0;
    const hi = (lo | 0xffff) >>> 0;
    const a = lo & 0x7fffffff;
    if (a > INF_BITS) continue; // NaN: those lanes run the exact path
    if (a === INF_BITS) {
      if (roundCode(e, lo) !== p.exact(lo)) return differs(lo, p.exact(lo));
      continue;
    }
    const m = p.memo[prefix];
    if (m !== p.sentinel) {
      if (roundCode(e, lo) !== m) return differs(lo, m);
      if (roundCode(e, hi) !== m) return differs(hi, m);
      continue;
    }
    for (const [x, y] of pieces(e, lo, hi)) {
      const want = p.exact(x);
      if (roundCode(e, x) !== want) return differs(x, want);
      if (p.exact(y) !== want) return differs(y, p.exact(y));
    }
  }
  return undefined;
}

/** maximal ranges of bits in [lo, hi] (one sign) on which the model is one code */
export function pieces(e: RoundEncoder, lo: number, hi: number): [number, number][] {
  const out: [number, number][] = [];
  const split = (x: number, y: number) => {
    if (roundCode(e, x) === roundCode(e, y)) {
      const last = out.at(-1);
      if (last && last[1] + 1 === x && roundCode(e, last[1]) === roundCode(e, x)) last[1] = y;
      else out.push([x, y]);
      return;
    }
    if (y === x + 1) {
      out.push([x, x], [y, y]);
      return;
    }
    const mid = x + Math.floor((y - x) / 2);
    split(x, mid);
    split(mid + 1, y);
  };
  split(lo, hi);
  return out;
}

/** codes of the f32x4 `bits` (as i32x4 lanes); NaN lanes are undefined (the caller takes them elsewhere) */
export function emitRoundEncoder(
  m: Module,
  bits: () => Ref,
  e: RoundEncoder,
  temp: () => number,
): Ref {
  const a = temp();
  const getA = () => m.local.get(a, binaryen.v128);
  const steps = m.i32x4.sub(
    m.f32x4.add(getA(), m.f32x4.splat(m.f32.const(fromBits(e.magic)))),
    splat(m, e.magic),
  );
  let c = steps;
  if (e.normal < INF_BITS) {
    const odd = m.v128.and(m.i32x4.shr_u(getA(), m.i32.const(e.shift)), splat(m, 1));
    const rounded = m.i32x4.add(m.i32x4.add(getA(), splat(m, (1 << (e.shift - 1)) - 1)), odd);
    const normal = m.i32x4.sub(m.i32x4.shr_u(rounded, m.i32.const(e.shift)), splat(m, e.offset));
    c = m.v128.bitselect(steps, normal, m.i32x4.lt_u(getA(), splat(m, e.normal)));
  }
  const t = temp();
  const n = () => m.local.get(t, binaryen.v128);
  // a constant per sign: one splat when both signs agree
  const bySign = (positive: number, negative: number) =>
    positive === negative
      ? splat(m, positive)
      : m.v128.bitselect(splat(m, negative), splat(m, positive), n());
  c = m.i32x4.min_u(c, bySign(e.maxCode, e.negMax));
  if (e.infCode !== e.maxCode || e.negInf !== e.negMax)
    c = m.v128.bitselect(
      bySign(e.infCode, e.negInf),
      c,
      m.i32x4.eq(getA(), splat(m, INF_BITS)),
    );
  if ("xor" in e.sign) {
    if (e.sign.xor) c = m.v128.xor(c, m.v128.and(n(), splat(m, e.sign.xor)));
  } else {
    // (c ^ n) - n is -c where n is all ones, c where it is 0
    c = m.v128.and(m.i32x4.sub(m.v128.xor(c, n()), n()), splat(m, e.sign.mask));
  }
  return m.block(
    null,
    [
      m.local.set(a, m.v128.and(bits(), splat(m, 0x7fffffff))),
      m.local.set(t, m.i32x4.shr_s(bits(), m.i32.const(31))),
      c,
    ],
    binaryen.v128,
  );
}
