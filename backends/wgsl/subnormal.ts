/**
 * f32 arithmetic that stays IEEE on engines that flush subnormals to zero.
 *
 * WGSL lets an engine flush subnormal operands and results (SwiftShader does,
 * and so do some GPUs), while KernelIR means IEEE binary32 with subnormals.
 * emit.ts prints the f32 operations that can meet a subnormal as calls of the
 * functions below; each takes the hardware result when it cannot be affected
 * and only otherwise computes on the bits:
 *
 * - multiply: the hardware product is right unless an operand is subnormal or
 *   the product falls below the normal range (a flushed result reads as 0);
 *   then the 24x24-bit significand product is rounded in integers.
 * - add: likewise; when it is not, both operands are scaled by 2^64 on their
 *   bits (subnormals become normal), added in hardware and scaled back. A sum
 *   below the normal range is a multiple of 2^-149 and therefore exact, so no
 *   second rounding happens. `a - b` is `a + (-b)`, as in IEEE.
 * - comparisons: integer comparisons of the sign-magnitude bits (-0 equals
 *   +0, false with a NaN), except against a constant of the normal range,
 *   which a flushed operand cannot cross.
 * - floor: floor of a negative subnormal is -1, not the -0 a flush gives.
 *
 * f32 division is qkc_div (emit.ts), already computed on the bits.
 */
import type { Expr } from "../../ir/kernel.js";

// Helpers are straight-line (select, non-short-circuit & and |) but for one
// rarely taken branch into the slow path: the common case costs a few integer
// tests next to the engine's own operation.
const TINY = `fn qkc_tiny(u: u32) -> bool {
  return ((u & 0x7f800000u) == 0u) & ((u & 0x7fffffu) != 0u);
}`;

const MULHI = `fn qkc_mulhi(a: u32, b: u32) -> u32 {
  let a0 = a & 0xffffu;
  let a1 = a >> 16u;
  let b0 = b & 0xffffu;
  let b1 = b >> 16u;
  let p01 = a0 * b1;
  let p10 = a1 * b0;
  let mid = ((a0 * b0) >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu);
  return a1 * b1 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u);
}`;

/** significand (hidden bit set) and exponent of a finite nonzero magnitude: x = m * 2^(e - 150), subnormals normalized */
const UNPACK = `fn qkc_unpack(x: u32) -> vec2<i32> {
  let sub = (x >> 23u) == 0u;
  let s = select(0u, countLeadingZeros(x) - 8u, sub);
  let m = select((x & 0x7fffffu) | 0x800000u, x << s, sub);
  return vec2<i32>(bitcast<i32>(m), select(i32(x >> 23u), 1i - i32(s), sub));
}`;

const MUL = `fn qkc_mul(a: f32, b: f32) -> f32 {
  var p = a * b;
  let ua = bitcast<u32>(a);
  let ub = bitcast<u32>(b);
  let zero = ((ua & 0x7fffffffu) == 0u) | ((ub & 0x7fffffffu) == 0u);
  if (qkc_tiny(ua) | qkc_tiny(ub) | (((bitcast<u32>(p) & 0x7f800000u) == 0u) & !zero)) {
    p = qkc_mul_bits(ua, ub);
  }
  return p;
}

// IEEE binary32 product rounded to nearest even, on the bits
fn qkc_mul_bits(ua: u32, ub: u32) -> f32 {
  let sign = (ua ^ ub) & 0x80000000u;
  let xa = ua & 0x7fffffffu;
  let xb = ub & 0x7fffffffu;
  let a = qkc_unpack(xa);
  let b = qkc_unpack(xb);
  // the 48-bit product's top 32 bits, the lower 16 folded into a sticky bit 0
  let ma = bitcast<u32>(a.x);
  let mb = bitcast<u32>(b.x);
  let lo = ma * mb;
  let q = (qkc_mulhi(ma, mb) << 16u) | (lo >> 16u) | select(0u, 1u, (lo & 0xffffu) != 0u);
  // keep 24 bits (7 or 8 dropped), more when the result is below the normal range
  let d0 = 8i - i32(countLeadingZeros(q));
  let e0 = a.y + b.y - 134i + d0;
  let e = max(e0, 0i);
  let d = d0 + select(0i, 1i - e0, e0 < 1i);
  let du = u32(min(d, 32i));
  let mant = select(q >> du, 0u, du == 32u);
  let rem = select(q & ((1u << du) - 1u), q, du == 32u);
  let half = 1u << (du - 1u);
  let up = (rem > half) | ((rem == half) & ((mant & 1u) != 0u));
  var bits = min(select(u32(e - 1i) << 23u, 0u, e == 0i) + mant + select(0u, 1u, up), 0x7f800000u);
  bits = select(bits, 0x7f800000u, e0 >= 255i);
  bits = select(bits, 0u, d >= 33i);
  // specials: zeros, infinities, NaN (0 * inf)
  bits = select(bits, 0u, (xa == 0u) | (xb == 0u));
  bits = select(bits, 0x7f800000u, (xa == 0x7f800000u) | (xb == 0x7f800000u));
  let nan = (xa > 0x7f800000u) | (xb > 0x7f800000u) | ((xa == 0x7f800000u) & (xb == 0u)) | ((xb == 0x7f800000u) & (xa == 0u));
  return qkc_f32(select(sign | bits, 0x7fc00000u, nan));
}`;

const ADD = `fn qkc_add(a: f32, b: f32) -> f32 {
  var s = a + b;
  let ua = bitcast<u32>(a);
  let ub = bitcast<u32>(b);
  let exact = ((bitcast<u32>(s) & 0x7f800000u) != 0u) | ((ua ^ ub) == 0x80000000u) | (((ua | ub) & 0x7fffffffu) == 0u);
  if (qkc_tiny(ua) | qkc_tiny(ub) | !exact) {
    s = qkc_add_bits(ua, ub, s);
  }
  return s;
}

// a + b when an operand is subnormal or the sum is below the normal range; s: the engine's sum
fn qkc_add_bits(ua: u32, ub: u32, s: f32) -> f32 {
  let ea = (ua >> 23u) & 0xffu;
  let eb = (ub >> 23u) & 0xffu;
  // both below 2^-27: scaled by 2^64 they are normal and add exactly in hardware
  let t = bitcast<u32>(qkc_up64(ua) + qkc_up64(ub));
  let et = (t >> 23u) & 0xffu;
  // below the normal range the sum is a multiple of 2^-149, exact after the shift
  let m = select((t & 0x7fffffu) | 0x800000u, 0u, et == 0u);
  let small = (t & 0x80000000u) | (m >> ((65u - et) & 31u));
  var r = select(small, t - (64u << 23u), et > 64u);
  // a subnormal next to an exponent this large is below half its ulp
  r = select(r, select(ub, ua, (ua & 0x7fffffffu) > (ub & 0x7fffffffu)), max(ea, eb) >= 100u);
  // infinities and NaN: the engine's sum
  return select(qkc_f32(r), s, (ea == 255u) | (eb == 255u));
}

// x * 2^64 for |x| < 2^-27, exact, on the bits (subnormals become normal)
fn qkc_up64(u: u32) -> f32 {
  let p = qkc_unpack(u & 0x7fffffffu);
  let up = (u & 0x80000000u) | (bitcast<u32>(p.y + 64i) << 23u) | (bitcast<u32>(p.x) & 0x7fffffu);
  return qkc_f32(select(up, u, (u & 0x7fffffffu) == 0u));
}

fn qkc_sub(a: f32, b: f32) -> f32 {
  return qkc_add(a, qkc_f32(bitcast<u32>(b) ^ 0x80000000u));
}`;

const COMPARE = `// an i32 in the order of the f32 values (non-NaN), -0 and +0 equal
fn qkc_key(x: f32) -> i32 {
  let u = bitcast<u32>(x);
  let m = i32(u & 0x7fffffffu);
  return select(m, -m, (u >> 31u) != 0u);
}

fn qkc_ordered(a: f32, b: f32) -> bool {
  return ((bitcast<u32>(a) & 0x7fffffffu) <= 0x7f800000u) & ((bitcast<u32>(b) & 0x7fffffffu) <= 0x7f800000u);
}

fn qkc_lt(a: f32, b: f32) -> bool {
  return qkc_ordered(a, b) & (qkc_key(a) < qkc_key(b));
}

fn qkc_le(a: f32, b: f32) -> bool {
  return qkc_ordered(a, b) & (qkc_key(a) <= qkc_key(b));
}

fn qkc_gt(a: f32, b: f32) -> bool {
  return qkc_ordered(a, b) & (qkc_key(a) > qkc_key(b));
}

fn qkc_ge(a: f32, b: f32) -> bool {
  return qkc_ordered(a, b) & (qkc_key(a) >= qkc_key(b));
}

fn qkc_eq(a: f32, b: f32) -> bool {
  return qkc_ordered(a, b) & (qkc_key(a) == qkc_key(b));
}

fn qkc_ne(a: f32, b: f32) -> bool {
  return !qkc_eq(a, b);
}`;

const FLOOR = `fn qkc_floor(x: f32) -> f32 {
  let u = bitcast<u32>(x);
  return select(floor(x), -1f, (u > 0x80000000u) & (u < 0x80800000u));
}`;

/** Helper sources by the name a shader calls, with the helpers each needs (printed first). */
const HELPERS: Record<string, { readonly code: string; readonly needs: readonly string[] }> = {
  qkc_tiny: { code: TINY, needs: [] },
  qkc_mulhi: { code: MULHI, needs: [] },
  qkc_unpack: { code: UNPACK, needs: [] },
  qkc_mul: { code: MUL, needs: ["qkc_tiny", "qkc_mulhi", "qkc_unpack"] },
  qkc_add: { code: ADD, needs: ["qkc_tiny", "qkc_unpack"] },
  qkc_lt: { code: COMPARE, needs: [] },
  qkc_floor: { code: FLOOR, needs: [] },
};
const FAMILY: Record<string, string> = {
  qkc_sub: "qkc_add",
  qkc_le: "qkc_lt",
  qkc_gt: "qkc_lt",
  qkc_ge: "qkc_lt",
  qkc_eq: "qkc_lt",
  qkc_ne: "qkc_lt",
};

/** The constant is in the normal range (or infinite): a flushed operand cannot cross it. */
const normalConstant = (e: Expr) => {
  if (e.op !== "const" || e.type !== "f32") return false;
  const m = Math.abs(e.value as number);
  return m >= 2 ** -126;
};

/**
 * The function printing a flush-proof version of an f32 operation, if it needs
 * one; undefined for every other expression.
 */
export function flushSafeCall(e: Expr): string | undefined {
  if (e.op === "unary" && e.kind === "floor") return "qkc_floor";
  if (e.op !== "binary" || e.a.type !== "f32") return undefined;
  switch (e.kind) {
    case "add":
    case "sub":
    case "mul":
      return `qkc_${e.kind}`;
    case "lt":
    case "le":
    case "gt":
    case "ge":
    case "eq":
    case "ne":
      return normalConstant(e.a) || normalConstant(e.b) ? undefined : `qkc_${e.kind}`;
    default:
      return undefined;
  }
}

/**
 * The sources of the helper functions `code` calls, each once, a helper's own
 * helpers first (also qkc_mulhi of the Philox generator).
 */
export function helpersFor(code: string): string[] {
  const wanted: string[] = [];
  const want = (name: string) => {
    if (wanted.includes(name)) return;
    for (const n of HELPERS[name].needs) want(n);
    wanted.push(name);
  };
  for (const name of Object.keys(HELPERS)) {
    const members = [name, ...Object.keys(FAMILY).filter((f) => FAMILY[f] === name)];
    if (members.some((m) => code.includes(`${m}(`))) want(name);
  }
  return wanted.map((n) => HELPERS[n].code);
}
