/**
 * Scale rules as KernelIR: the block statistics, and from them the scale code,
 * its value and the element multiplier, in the order of ir/interpret/scales.ts.
 */
import { K, type Expr } from "../../ir/kernel.js";
import { codec, floorLog2, NEAREST_EVEN, type Codec } from "../../ir/formats/index.js";
import { elementEmax, elementMax, type Scheme } from "../../ir/scheme.js";
import { Block, E } from "./builder.js";
import { lowerEncode, tableName } from "./encode.js";

const u = K.u32;
const i = K.i32;
const f = K.f32;

export interface LoweredScale {
  code: Expr;
  value: Expr;
  mult: Expr;
  zero: Expr;
}

/** floor(log2 a) for a finite f32 a > 0, from its bits (i32). Also right for a = +Inf bits: 128. */
export function floorLog2Bits(b: Block, abits: Expr): Expr {
  const e32 = E.shr(abits, u(23));
  return b.let(
    "flog2",
    E.select(E.eq(e32, u(0)), E.sub(i(-118), E.i32(K.un("clz", abits))), E.sub(E.i32(e32), i(127))),
  );
}

/** ceil(log2 a) for a finite f32 a > 0. */
function ceilLog2Bits(b: Block, abits: Expr): Expr {
  const fl = floorLog2Bits(b, abits);
  const e32 = E.shr(abits, u(23));
  const mant = E.and(abits, u(0x7fffff));
  // a power of two: a normal with zero mantissa, or a subnormal with one bit set
  const pow = E.select(
    E.eq(e32, u(0)),
    E.eq(E.and(abits, E.sub(abits, u(1))), u(0)),
    E.eq(mant, u(0)),
  );
  return b.let("clog2", E.add(fl, E.i32(E.b2u(E.not(pow)))));
}

/** Decoded value of a code of a format of at most 16 bits: a table lookup (f32 exact). */
export function decodeExpr(c: Codec, code: Expr): Expr {
  if (c.bits > 16) {
    if (c.format.kind === "float" && c.format.exponent === 8 && c.format.mantissa === 23)
      return E.float(code);
    throw new Error(`decode of ${c.bits}-bit format ${c.format.name} is not lowered`);
  }
  return K.table(tableName(c.format, "values"), code, "f32");
}

export function valuesTable(c: Codec): { name: string; type: "f32"; values: number[] } {
  return {
    name: tableName(c.format, "values"),
    type: "f32",
    values: Array.from({ length: 2 ** c.bits }, (_, code) => c.decode(code)),
  };
}

export function lowerBlockScale(
  b: Block,
  s: Scheme,
  st: { amax: Expr; min: Expr; max: Expr; nonfinite: Expr },
  sEnc: Expr,
): LoweredScale {
  const scale = codec(s.scale.format);
  const qmax = elementMax(s);
  const emax = elementEmax(s);
  const kmin = floorLog2(scale.minPositive);
  const kmax = floorLog2(scale.maxFinite);
  const nan: LoweredScale = { code: u(scale.nanCode), value: f(NaN), mult: f(NaN), zero: u(0) };
  const amaxBits = b.let("amaxbits", E.bits(st.amax));
  const zeroAmax = E.eq(amaxBits, u(0));
  let r: LoweredScale;
  const rule = s.scale.rule;
  if (rule === "floor" || rule === "ceil" || rule === "rceil" || rule === "even") {
    let k: Expr;
    let isZero: Expr = zeroAmax;
    if (rule === "floor") k = E.sub(floorLog2Bits(b, amaxBits), i(emax));
    else if (rule === "ceil") k = E.sub(ceilLog2Bits(b, amaxBits), i(emax));
    else if (rule === "rceil") {
      const rbits = b.let("rbits", E.bits(E.div(st.amax, f(qmax))));
      isZero = E.eq(rbits, u(0));
      k = ceilLog2Bits(b, rbits);
    } else {
      const e = s.element;
      const mbits =
        e.kind === "float" ? e.mantissa : e.kind === "int" ? e.bits - (e.signed ? 2 : 1) : 0;
      k = E.sub(floorLog2Bits(b, roundMantissaBits(b, amaxBits, mbits)), i(emax));
    }
    const kk = b.let("k", E.select(isZero, i(kmin), E.max(k, i(kmin))));
    const value = b.let("scale", pow2f32(b, kk));
    const code = lowerEncode(b, s.scale.format, NEAREST_EVEN, "saturate", value);
    r = { code, value, mult: b.let("mult", E.div(f(1), value)), zero: u(0) };
    const tooBig = b.let("nanscale", E.or(st.nonfinite, E.gt(kk, i(kmax))));
    return pick(b, tooBig, nan, r);
  }
  if (rule === "amax") {
    const ratio = E.div(E.mul(st.amax, sEnc), f(qmax));
    const code = lowerEncode(b, s.scale.format, NEAREST_EVEN, "saturate", b.let("ratio", ratio));
    const value = b.let("scale", decodeExpr(scale, code));
    const mult = b.let("mult", E.select(E.eq(value, f(0)), f(0), E.div(sEnc, value)));
    r = { code, value, mult, zero: u(0) };
    return pick(b, st.nonfinite, nan, r);
  }
  // minmax (GPTQ): [min(x, 0), max(x, 0)], an all-zero range becomes [-1, 1]
  const lo0 = E.select(E.lt(st.min, f(0)), st.min, f(0));
  const hi0 = E.select(E.gt(st.max, f(0)), st.max, f(0));
  const flat = b.let("flat", E.eq(lo0, hi0));
  const lo = b.let("lo", E.select(flat, f(-1), lo0));
  const hi = b.let("hi", E.select(flat, f(1), hi0));
  const code0 = lowerEncode(
    b,
    s.scale.format,
    NEAREST_EVEN,
    "saturate",
    b.let("range", E.div(E.sub(hi, lo), f(qmax))),
  );
  const value0 = b.let("scale0", decodeExpr(scale, code0));
  const under = E.eq(value0, f(0));
  const minCode = scale.encode(scale.minPositive, NEAREST_EVEN, "saturate");
  const code = b.let("scode", E.select(under, u(minCode), code0));
  const value = b.let("scale", E.select(under, f(scale.minPositive), value0));
  const mult = b.let("mult", E.div(f(1), value));
  // zero point: round to nearest even, then clamp to [0, Qmax] (an unsigned 16-bit encode clamps at 0)
  const z = lowerEncode(
    b,
    { kind: "int", name: "zero_point", bits: 16, signed: false, range: "full", shift: 0 },
    NEAREST_EVEN,
    "saturate",
    E.mul(K.un("neg", lo), mult),
  );
  const zero = b.let("zero", E.min(z, u(qmax)));
  r = { code, value, mult, zero };
  return pick(b, st.nonfinite, nan, r);
}

function pick(b: Block, cond: Expr, yes: LoweredScale, no: LoweredScale): LoweredScale {
  return {
    code: b.let("scode", E.select(cond, yes.code, no.code)),
    value: b.let("svalue", E.select(cond, yes.value, no.value)),
    mult: b.let("smult", E.select(cond, yes.mult, no.mult)),
    zero: b.let("szero", E.select(cond, yes.zero, no.zero)),
  };
}

/** 2^k as f32 for k in [-149, 127]; +Inf above. */
function pow2f32(b: Block, k: Expr): Expr {
  const normal = E.float(E.shl(E.u32(E.add(k, i(127))), u(23)));
  const subnormal = E.float(E.shl(u(1), E.u32(E.max(E.add(k, i(149)), i(0)))));
  return b.let(
    "p2",
    E.select(E.gt(k, i(127)), f(Infinity), E.select(E.ge(k, i(-126)), normal, subnormal)),
  );
}

/** The bits of f32 `abits` rounded to `mbits` fraction bits (RNE), exponent unbounded (carry into Inf is fine). */
function roundMantissaBits(b: Block, abits: Expr, mbits: number): Expr {
  const e32 = E.shr(abits, u(23));
  const lead = E.select(E.eq(e32, u(0)), E.sub(i(31), E.i32(K.un("clz", abits))), i(23));
  const d = b.let("rd", E.sub(lead, i(mbits)));
  const dc = E.u32(E.min(E.max(d, i(1)), i(31)));
  const half = E.shl(u(1), E.sub(dc, u(1)));
  const lsbBit = E.and(E.shr(abits, dc), u(1));
  const rounded = E.and(
    E.add(E.add(abits, E.sub(half, u(1))), lsbBit),
    K.un("not", E.sub(E.shl(u(1), dc), u(1))),
  );
  return b.let("rounded", E.select(E.gt(d, i(0)), rounded, abits));
}
