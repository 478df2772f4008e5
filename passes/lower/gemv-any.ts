/**
 * The body of an `order: any` GEMV (DESIGN.md contract 2: held to
 * |y - y_exact| <= gamma_K * sum |w_i x_i| against gemvReference, not bit-exact).
 *
 * The scale is factored out of each block: per row and block, the products
 * fl(q_k x_k) of the decoded element values q go to 4 block lanes (lane = the
 * element's offset in the block mod 4), then acc_c += (bacc_c * s) [* t], and
 * the 4 row lanes fold as (0 + 2) + (1 + 3). A block takes that form only
 * where it cannot change a non-finite result or leave the bound; otherwise it
 * runs per element, w = fl(q s) [* t] exactly as the reference, acc_c += w x:
 * - once per call: every |x| is 0 or in [XMIN, XMAX] (no NaN or Inf, q x
 *   neither overflows nor underflows, a block lane sum cannot overflow), and
 *   the rounding count below fits K;
 * - per block: |s| (and |s t|) is finite and in [SMIN, SMAX], so the
 *   reference's own fl(q s) [* t] neither overflows nor underflows.
 * Roundings per term of a factored block, against the reference's w x: the
 * reference's fl(q s) [and * t], the product, at most ceil(B/4) - 1 block
 * lane additions, the scale [and t], at most ceil(K/4) + nb - 1 row lane
 * additions, 2 folds: m + ceil(B/4) + ceil(K/4) + nb <= K with m = 3 [5] is
 * checked at run time (it holds from K = 11 on; below, every block runs per
 * element). A per-element term has 1 rounding and at most K - 1 additions that
 * merge it with another term (adding an untouched 0 is exact), so every term
 * has at most K roundings and Higham's lemma gives the bound. Underflow is
 * outside the gamma bound: with the guards, only bacc * s [* t] and the
 * per-element products can underflow, each by at most 2^-150 (times |t|).
 */
import { K, type Expr, type Stmt } from "../../ir/kernel.js";
import { codec, f16, formatBits, type Codec } from "../../ir/formats/index.js";
import type { Scheme } from "../../ir/scheme.js";
import type { DType } from "../../ir/tensor.js";
import type { CodeLayout } from "../../ir/graph.js";
import type { ScaleLayout } from "../../ir/program.js";
import { Block, E } from "./builder.js";
import { decodeExpr } from "./scale.js";
import { packedCodeExpr } from "./pack.js";
import { scaleIndex } from "./scale-place.js";

/** block lanes (and row lanes) of an any-order GEMV */
export const ANY_LANES = 4;
const i = K.i32;
const f = K.f32;
const abs = (e: Expr) => K.un("abs", e);

/** The largest finite |q| and the smallest nonzero |q| an element code decodes to. */
export function elementRange(s: Scheme): { qmax: number; qmin: number } {
  if (s.scale.rule === "minmax") return { qmax: 2 ** formatBits(s.element) - 1, qmin: 1 };
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

/** a power of two at most v (v > 0) */
const pow2Below = (v: number) => 2 ** Math.floor(Math.log2(v));

export function gemvAnyBody(
  s: Scheme,
  activations: DType,
  codes: CodeLayout,
  scaleLayout: ScaleLayout,
): Stmt[] {
  const elem = codec(s.element);
  const scale = codec(s.scale.format);
  const asym = s.scale.rule === "minmax";
  const { qmax, qmin } = elementRange(s);
  const Kv = K.v("K", "i32");
  const top = new Block();
  top.comment(
    `gemv ${s.name}, order any: per block, ${ANY_LANES} lanes of q x, then * scale; per element where the guards fail`,
  );
  const size = s.block.kind !== "axis" || s.block.size === "all" ? undefined : s.block.size;
  const bsize = top.let("bsize", size === undefined ? E.max(Kv, i(1)) : i(size));
  const nb = top.let("nb", E.div(E.sub(E.add(Kv, bsize), i(1)), bsize));
  const second = s.tensorScale ? top.let("dscale", K.load("tscale", i(2), "f32")) : undefined;
  const xval = (k: Expr): Expr => {
    const raw = K.load("x", k, activations === "f32" ? "f32" : "u32");
    return activations === "f32"
      ? raw
      : activations === "bf16"
        ? E.float(E.shl(raw, K.u32(16)))
        : decodeExpr(codec(f16), raw);
  };
  // the call's guard: every |x| is 0 or in [XMIN, XMAX]; the rounding count fits K
  const beff = top.let("beff", E.min(bsize, E.max(Kv, i(1))));
  const blockLanes = top.let("blanes", E.div(E.add(beff, i(ANY_LANES - 1)), i(ANY_LANES)));
  // XMAX = 2^126 / (qmax ceil(B/4)) rounded down to a power of two: a block lane sum stays below 2^127
  const xmax = top.let(
    "xmax",
    E.div(f(pow2Below(2 ** 126 / qmax)), E.f32(blockLanes)),
  );
  const xmin = f(2 ** -125 / pow2Below(qmin));
  const xok = top.mutable("xok", K.bool(true));
  const xs = new Block("g");
  const ax = xs.let("ax", abs(xval(K.v("kx", "i32"))));
  xs.push(
    xok.set(
      E.and(
        xok.ref,
        E.and(E.le(ax, xmax), E.or(E.eq(ax, f(0)), E.ge(ax, xmin))),
      ),
    ),
  );
  top.push(K.for("kx", i(0), Kv, xs.stmts));
  const rowLanes = E.div(E.add(Kv, i(ANY_LANES - 1)), i(ANY_LANES));
  const count = E.add(E.add(E.add(i(anyMultiplications(s)), blockLanes), rowLanes), nb);
  const fast = top.let("fast", E.and(xok.ref, E.le(count, Kv)));
  // per block: the reference's fl(q s) [* t] is finite and normal
  const smax = f(pow2Below(2 ** 126 / qmax));
  const smin = f(2 ** -125 / pow2Below(qmin));
  const at = second ? top.let("at", abs(second)) : undefined;

  const n = K.v("n", "i32");
  const row = new Block("r");
  const accs = Array.from({ length: ANY_LANES }, (_, c) => row.mutable(`acc${c}`, f(0)));
  const blk = new Block("b");
  const bi = blk.let("blk", scaleIndex(scaleLayout, n, K.v("b", "i32"), nb));
  const sv = blk.let("s", decodeExpr(scale, K.load("scales", bi, "u32")));
  const zero = asym ? blk.let("z", E.i32(K.load("zeros", bi, "u32"))) : undefined;
  const k0 = blk.let("k0", E.mul(K.v("b", "i32"), bsize));
  const kend = blk.let("kend", E.min(E.add(k0, bsize), Kv));
  const steps = blk.let("steps", E.div(E.add(E.sub(kend, k0), i(ANY_LANES - 1)), i(ANY_LANES)));
  const as = blk.let("as", abs(sv));
  let ok = E.and(fast, E.and(E.le(as, smax), E.ge(as, smin)));
  if (at) {
    const ast = blk.let("ast", E.mul(as, at));
    ok = E.and(ok, E.and(E.le(ast, smax), E.ge(ast, smin)));
  }
  const okv = blk.let("ok", ok);

  /** a chunk loop of ANY_LANES lane bodies: lane c's value `term(q, x)` added to `into[c]` */
  const chunkLoop = (
    v: string,
    into: readonly { ref: Expr; set: (e: Expr) => Stmt }[],
    term: (q: Expr, x: Expr, lane: Block) => Expr,
  ): Stmt => {
    const chunk = new Block("c");
    for (let c = 0; c < ANY_LANES; c++) {
      const lane = new Block("l");
      const k = chunk.let("k", E.add(E.add(k0, E.mul(K.v(v, "i32"), i(ANY_LANES))), i(c)));
      const code = lane.let("code", packedCodeExpr(codes, "codes", E.add(E.mul(n, Kv), k)));
      const q = lane.let(
        "q",
        asym ? E.f32(E.sub(E.i32(code), zero!)) : decodeExpr(elem, code),
      );
      const p = lane.let("p", term(q, xval(k), lane));
      lane.push(into[c].set(E.add(into[c].ref, p)));
      chunk.push(K.if(E.lt(k, kend), lane.stmts));
    }
    return K.for(v, i(0), steps, chunk.stmts);
  };

  // factored: block lanes of q x, then * s [* t]
  const fact = new Block("f");
  const baccs = Array.from({ length: ANY_LANES }, (_, c) => fact.mutable(`bacc${c}`, f(0)));
  fact.push(chunkLoop("jf", baccs, (q, x) => E.mul(q, x)));
  for (let c = 0; c < ANY_LANES; c++) {
    const scaled = E.mul(baccs[c].ref, sv);
    fact.push(accs[c].set(E.add(accs[c].ref, second ? E.mul(scaled, second) : scaled)));
  }
  // per element: w = fl(q s) [* t], as the reference dequantizes
  const slow = chunkLoop("js", accs, (q, x, lane) => {
    const qs = E.mul(q, sv);
    const w = lane.let("w", second ? E.mul(qs, second) : qs);
    return E.mul(w, x);
  });
  blk.push(K.if(okv, fact.stmts, [slow]));
  row.push(K.for("b", i(0), nb, blk.stmts));
  row.push(accs[0].set(E.add(accs[0].ref, accs[2].ref)));
  row.push(accs[1].set(E.add(accs[1].ref, accs[3].ref)));
  row.push(accs[0].set(E.add(accs[0].ref, accs[1].ref)));
  const y = accs[0].ref;
  row.push(K.store("y", n, E.select(E.ne(y, y), f(NaN), y)));
  top.push(K.for("n", i(0), K.v("N", "i32"), row.stmts));
  return top.stmts;
}
