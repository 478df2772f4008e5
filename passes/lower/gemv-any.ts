/**
 * The body of an `order: any` GEMV (DESIGN.md contract 2: held to
 * |y - y_exact| <= gamma_K * sum |w_i x_i| against gemvReference, not bit-exact).
 *
 * The scale is factored out of each block of B = 16 J elements (J >= 2): 16
 * row lanes as the fixed order, lane c of a block sums its J products
 * fl(q x) of the decoded element values q (elements c, c + 16, ..., in that
 * order), then acc_c += fl(sum * s) [fl(sum * fl(s t))]; the full blocks run so, the ragged
 * last block per element; the 16 lanes fold as the fixed order (halves). The
 * call takes that form only where it cannot change a non-finite result or
 * leave the bound; otherwise the row runs per element, w = fl(q s) [* t]
 * exactly as the reference, in the fixed order's shape:
 * - (per call) every |x| is 0 or in [XMIN, XMAX]: no NaN or Inf, q x neither
 *   overflows nor underflows, a lane's block sum cannot overflow (q_max is
 *   the largest |q| of any code and zero point the buffers can hold);
 * - (per row, so a row's result does not depend on the rows a call holds, as
 *   in a threaded band) every |s| (and |s t|) of the row is in [SMIN, SMAX]:
 *   the reference's own fl(q s) [* t] is finite and normal (without a tensor
 *   scale tested on the codes, `codeRange`, where that is exact);
 * - the rounding count fits K. Per term of a factored block, against the
 *   reference's w x: the reference's fl(q s) [and * t], the product, at most
 *   J - 1 block sum additions, the scale [fl(s t) and sum * st] (m = 3 [5]),
 *   at most nb - 1 + J lane additions (the other full blocks, the ragged
 *   tail's elements of its lane) and 4 folds: m + 2 J + nb + 4 <= K is
 *   checked at run time. A per-element term has 1 rounding and at most K - 1
 *   additions that merge it with another term (adding an untouched 0 is
 *   exact), so every term has at most K roundings and Higham's lemma gives
 *   the bound.
 * Underflow is outside the gamma bound: with the guards, only sum * s [* st]
 * and the per-element products can underflow, each by at most 2^-150.
 * Blocks of a size not a multiple of 16 (or J = 1, or "all") run per element
 * always: the fixed order, which is within the bound.
 *
 * An element whose values are a two's complement 4-bit integer n times a
 * power of two f (INT4: f = 1, MXINT4: 1/4) is read in the factored form as
 * q' = n 2^28 = q F, F = 2^28 / f (a second table: the code in the top 4 bits
 * of an i32, which the WASM backend builds with one byte swizzle and no
 * shifts) against s' = s / F. The guards keep both exact: x up to
 * 2^126 / (q_max F J), |s| (and |s t|) at least 2^-126 F, so s' is normal;
 * then q' x = F fl(q x) and fl(sum' s') = fl(sum s): the same terms and
 * roundings as with q and s.
 */
import { K, type Expr, type Stmt, type Table } from "../../ir/kernel.js";
import { codec, formatBits, type Codec } from "../../ir/formats/index.js";
import type { Scheme } from "../../ir/scheme.js";
import type { DType } from "../../ir/tensor.js";
import type { CodeLayout } from "../../ir/graph.js";
import type { ScaleLayout } from "../../ir/program.js";
import { Block, E } from "./builder.js";
import { decodeExpr, valuesTable } from "./scale.js";
import { tableName } from "./encode.js";
import { packedCodeExpr } from "./pack.js";
import { scaleIndex } from "./scale-place.js";
import { elementChunks, elementProduct, gemvParts, gemvRows, laneBodies, GEMV_LANES as LANES } from "./gemv-parts.js";

const i = K.i32;
const f = K.f32;
const abs = (e: Expr) => K.un("abs", e);

/** The largest finite |q| and the smallest nonzero |q| an element code decodes to. */
export function elementRange(s: Scheme): { qmax: number; qmin: number } {
  // q = code - z: the code and zero buffers hold any value of their storage type
  // (u8 up to 8 bits, u16 up to 16), and the reference takes them as they are
  if (s.scale.rule === "minmax")
    return { qmax: 2 ** (formatBits(s.element) <= 8 ? 8 : formatBits(s.element) <= 16 ? 16 : 32) - 1, qmin: 1 };
  const c: Codec = codec(s.element);
  if (c.bits > 12) return { qmax: 2 * c.maxFinite, qmin: c.minPositive };
  let qmax = 0;
  let qmin = Infinity;
  for (let code = 0; code < 2 ** c.bits; code++) {
    const v = Math.abs(c.decode(code));
    if (!Number.isFinite(v) || v === 0) continue;
    qmax = Math.max(qmax, v);
    qmin = Math.min(qmin, v);
  }
  return { qmax, qmin };
}

/** the rounding guard's m: per term, the multiplications besides the additions */
export const anyMultiplications = (s: Scheme): number => (s.tensorScale ? 5 : 3);

/**
 * The scale codes whose value v has smin <= |v| <= smax, as (code & mask) in
 * [lo, hi], when that holds for every code (checked over all codes of a
 * format of at most 16 bits; IEEE f32 by its bit order); undefined otherwise.
 */
export function codeRange(
  c: Codec,
  smax: number,
  smin: number,
): { mask: number; lo: number; hi: number } | undefined {
  const f = c.format;
  if (c.bits === 32 && f.kind === "float" && f.exponent === 8 && f.mantissa === 23) {
    const u = new Uint32Array(new Float32Array([smin, smax]).buffer);
    return { mask: 0x7fffffff, lo: u[0], hi: u[1] };
  }
  if (c.bits > 16) return undefined;
  const inRange = (code: number) => {
    const v = Math.abs(c.decode(code));
    return Number.isFinite(v) && v >= smin && v <= smax;
  };
  for (const mask of [2 ** (c.bits - 1) - 1, 2 ** c.bits - 1]) {
    let lo = Infinity;
    let hi = -1;
    for (let code = 0; code < 2 ** c.bits; code++)
      if (inRange(code)) [lo, hi] = [Math.min(lo, code & mask), Math.max(hi, code & mask)];
    if (hi < 0) return { mask, lo: 1, hi: 0 }; // no code in range
    let exact = true;
    for (let code = 0; code < 2 ** c.bits && exact; code++) {
      const m = code & mask;
      exact = inRange(code) === (m >= lo && m <= hi);
    }
    if (exact) return { mask, lo, hi };
  }
  return undefined;
}

/** the factored form's INT4 codes as the code in the top 4 bits of an i32: q' = n(code) 2^28 */
const TOP = 2 ** 28;

/**
 * For an element whose values are a two's complement 4-bit integer n(code)
 * times a power of two f (INT4, MXINT4), the factored form's table of
 * n(code) 2^28 = q F and the factor F = 2^28 / f (see the file comment);
 * undefined for any other element, or with a zero point.
 */
export function topScaling(s: Scheme): { table: Table; factor: number } | undefined {
  if (s.scale.rule === "minmax") return undefined;
  const c = codec(s.element);
  if (c.bits !== 4) return undefined;
  const { values } = valuesTable(c);
  const f = values[1];
  if (!(f > 0) || 2 ** Math.round(Math.log2(f)) !== f) return undefined;
  if (!values.every((v, code) => v === ((code << 28) >> 28) * f)) return undefined;
  const table = { name: tableName(c.format, "values_top"), type: "f32" as const, values: values.map((v) => (v / f) * TOP) };
  return { table, factor: TOP / f };
}

/** a power of two at most v (v > 0) */
const pow2Below = (v: number) => 2 ** Math.floor(Math.log2(v));

export function gemvAnyBody(
  s: Scheme,
  activations: DType,
  codes: CodeLayout,
  scaleLayout: ScaleLayout,
): Stmt[] {
  const { qmax, qmin } = elementRange(s);
  const size = s.block.kind === "axis" && s.block.size !== "all" ? s.block.size : undefined;
  const J = size !== undefined && size % LANES === 0 ? size / LANES : 1;
  const g = gemvParts(
    s,
    activations,
    codes,
    scaleLayout,
    J > 1
      ? `gemv ${s.name}, order any: per block, ${LANES} lanes of ${J} products q x, then * scale; per element where the guards fail`
      : `gemv ${s.name}, order any: per element, ${LANES} lane accumulators, halves folded`,
  );
  if (J === 1) return gemvRows(g, (row, accs) => row.push(elementChunks(g, accs)));
  const { top, Kv, n, nb, bsize, second } = g;
  const scaleAt = (b: Block, blockIndex: Expr) => {
    const bi = b.let("blk", scaleIndex(scaleLayout, n, blockIndex, nb));
    const sv = b.let("s", decodeExpr(g.scale, K.load("scales", bi, "u32")));
    const zero = g.asym ? b.let("z", E.i32(K.load("zeros", bi, "u32"))) : undefined;
    return { sv, zero };
  };
  const scaled = topScaling(s);
  const F = scaled?.factor ?? 1;
  const qOf = (b: Block, at: Expr, zero: Expr | undefined) => {
    const code = b.let("code", packedCodeExpr(codes, "codes", at));
    return b.let(
      "q",
      g.asym
        ? E.f32(E.sub(E.i32(code), zero!))
        : scaled
          ? K.table(scaled.table.name, code, "f32")
          : decodeExpr(g.elem, code),
    );
  };

  // the call's guards (the factored form's products are q' x = q F x)
  const xmax = f(pow2Below(2 ** 126 / (qmax * F * J)));
  const xmin = f(2 ** -125 / pow2Below(qmin));
  const xbad = top.mutable("xbad", K.u32(0));
  const xs = new Block("g");
  const ax = xs.let("ax", abs(g.xval(K.v("kx", "i32"))));
  const xok = E.and(E.le(ax, xmax), E.or(E.eq(ax, f(0)), E.ge(ax, xmin)));
  xs.push(xbad.set(E.or(xbad.ref, E.select(xok, K.u32(0), K.u32(1)))));
  top.push(K.for("kx", i(0), Kv, xs.stmts));
  // s' = s / F stays normal, so exact
  const [smaxN, sminN] = [
    pow2Below(2 ** 126 / qmax),
    Math.max(2 ** -125 / pow2Below(qmin), F > 1 ? 2 ** -126 * F : 0),
  ];
  const [smax, smin] = [f(smaxN), f(sminN)];
  const at = second ? top.let("at", abs(second)) : undefined;
  const count = E.add(i(anyMultiplications(s) + 2 * J + 4), nb);
  const fast = top.let("fast", E.and(E.eq(xbad.ref, K.u32(0)), E.le(count, Kv)));

  // per row (so a row's result does not depend on the rows a call holds, as in a threaded
  // band): the factored form where every scale of the row is in range, else per element
  const nfull = top.let("nfull", E.div(Kv, bsize));
  const kfull = top.let("kfull", E.mul(nfull, bsize));
  return gemvRows(g, (row, accs) => {
    const sbad = row.mutable("sbad", E.select(fast, K.u32(0), K.u32(1)));
    const sblk = new Block("h");
    const range = at ? undefined : codeRange(g.scale, smaxN, sminN);
    let sok: Expr;
    if (range) {
      // on the codes: |s| in [SMIN, SMAX] is (code & mask) in [lo, hi] (checked for every code)
      const bi = sblk.let("blk", scaleIndex(scaleLayout, n, K.v("bs", "i32"), nb));
      const mag = sblk.let("mag", E.and(K.load("scales", bi, "u32"), K.u32(range.mask)));
      sok = E.and(E.ge(mag, K.u32(range.lo)), E.le(mag, K.u32(range.hi)));
    } else {
      const as = sblk.let("as", abs(scaleAt(sblk, K.v("bs", "i32")).sv));
      sok = E.and(E.le(as, smax), E.ge(as, smin));
      if (at) {
        const ast = sblk.let("ast", E.mul(as, at));
        sok = E.and(sok, E.and(E.le(ast, smax), E.ge(ast, smin)));
      }
    }
    sblk.push(sbad.set(E.or(sbad.ref, E.select(sok, K.u32(0), K.u32(1)))));
    row.push(K.for("bs", i(0), nb, sblk.stmts));
    const chunk = new Block("c");
    laneBodies(chunk, E.mul(K.v("kc", "i32"), i(size!)), kfull, accs, (lane, k) => {
      const block = scaleAt(lane, E.div(k, bsize));
      const zero = block.zero;
      // s' = s / F, exact in the guarded range
      const sv = scaled ? lane.let("sf", E.mul(block.sv, f(1 / F))) : block.sv;
      let sum: Expr | undefined;
      for (let j = 0; j < J; j++) {
        const kj = j === 0 ? k : lane.let("kj", E.add(k, i(LANES * j)));
        const q = qOf(lane, E.add(E.mul(n, Kv), kj), zero);
        const p = lane.let("p", E.mul(q, g.xval(kj)));
        sum = sum === undefined ? p : lane.let("sum", E.add(sum, p));
      }
      // sum * fl(s t), not (sum * s) * t: with |t| < 1, sum * s can overflow (or with
      // |t| > 1 underflow) where the term is in range; fl(s t) is the guarded |s t|
      return lane.let("t", E.mul(sum!, second ? lane.let("st", E.mul(sv, second)) : sv));
    });
    const tail = new Block("c");
    laneBodies(tail, E.add(kfull, E.mul(K.v("kt", "i32"), i(LANES))), Kv, accs, (lane, k) =>
      elementProduct(g, lane, k),
    );
    row.push(
      K.if(
        E.eq(sbad.ref, K.u32(0)),
        [
          K.for("kc", i(0), nfull, chunk.stmts),
          K.for("kt", i(0), E.div(E.add(E.sub(Kv, kfull), i(LANES - 1)), i(LANES)), tail.stmts),
        ],
        [elementChunks(g, accs)],
      ),
    );
  });
}
