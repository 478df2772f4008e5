/**
 * What both GEMV orders build from (gemv.ts fixed, gemv-any.ts any): the
 * call's lets (block size, block count, tensor scale), the activation load,
 * the fixed order's per-element product w = fl(q s) [* t], p = fl(w x), its
 * 16-lane chunk loop and the fold of the lanes into y. One copy, so the any
 * order's per-element rows are the fixed order's by construction.
 */
import { K, type Expr, type Stmt } from "../../ir/kernel.js";
import { codec, f16, type Codec } from "../../ir/formats/index.js";
import type { Scheme } from "../../ir/scheme.js";
import type { DType } from "../../ir/tensor.js";
import type { CodeLayout } from "../../ir/graph.js";
import type { ScaleLayout } from "../../ir/program.js";
import { Block, E } from "./builder.js";
import { decodeExpr } from "./scale.js";
import { packedCodeExpr } from "./pack.js";
import { scaleIndex } from "./scale-place.js";

export const GEMV_LANES = 16;
const i = K.i32;
const f = K.f32;

export type Acc = { ref: Expr; set: (e: Expr) => Stmt };

export interface GemvParts {
  readonly s: Scheme;
  readonly elem: Codec;
  readonly scale: Codec;
  readonly asym: boolean;
  readonly codes: CodeLayout;
  readonly scaleLayout: ScaleLayout;
  /** the kernel's top level, with the lets below already in it */
  readonly top: Block;
  readonly Kv: Expr;
  readonly n: Expr;
  /** block size (K for "all"), blocks per row, the tensor scale if any */
  readonly bsize: Expr;
  readonly nb: Expr;
  readonly second: Expr | undefined;
  /** x[k] as f32 */
  xval(k: Expr): Expr;
}

export function gemvParts(
  s: Scheme,
  activations: DType,
  codes: CodeLayout,
  scaleLayout: ScaleLayout,
  comment: string,
): GemvParts {
  const Kv = K.v("K", "i32");
  const top = new Block();
  top.comment(comment);
  const size = s.block.kind === "axis" && s.block.size !== "all" ? s.block.size : undefined;
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
  return {
    s,
    elem: codec(s.element),
    scale: codec(s.scale.format),
    asym: s.scale.rule === "minmax",
    codes,
    scaleLayout,
    top,
    Kv,
    n: K.v("n", "i32"),
    bsize,
    nb,
    second,
    xval,
  };
}

/** The fixed order's product of element k of row n, as the reference: w = fl(q s) [* t], p = fl(w x). */
export function elementProduct(g: GemvParts, lane: Block, k: Expr): Expr {
  const at = lane.let("at", E.add(E.mul(g.n, g.Kv), k));
  const blk = lane.let("blk", scaleIndex(g.scaleLayout, g.n, E.div(k, g.bsize), g.nb));
  const sv = lane.let("s", decodeExpr(g.scale, K.load("scales", blk, "u32")));
  const code = lane.let("code", packedCodeExpr(g.codes, "codes", at));
  let w: Expr;
  if (g.asym) w = E.mul(E.f32(E.sub(E.i32(code), E.i32(K.load("zeros", blk, "u32")))), sv);
  else if (g.second) w = E.mul(E.mul(decodeExpr(g.elem, code), sv), g.second);
  else w = E.mul(decodeExpr(g.elem, code), sv);
  return lane.let("p", E.mul(lane.let("w", w), g.xval(k)));
}

/** 16 lane bodies from `base` into `chunk`, lane c adding body's value to accs[c] while base + c < limit */
export function laneBodies(
  chunk: Block,
  base: Expr,
  limit: Expr,
  accs: readonly Acc[],
  body: (lane: Block, k: Expr) => Expr,
): void {
  for (let c = 0; c < GEMV_LANES; c++) {
    const lane = new Block("l");
    const k = chunk.let("k", E.add(base, i(c)));
    const p = body(lane, k);
    lane.push(accs[c].set(E.add(accs[c].ref, p)));
    chunk.push(K.if(E.lt(k, limit), lane.stmts));
  }
}

/** The fixed order's chunk loop over the whole row: element k into lane k mod 16. */
export function elementChunks(g: GemvParts, accs: readonly Acc[]): Stmt {
  const chunk = new Block("c");
  laneBodies(chunk, E.mul(K.v("kb", "i32"), i(GEMV_LANES)), g.Kv, accs, (lane, k) =>
    elementProduct(g, lane, k),
  );
  return K.for("kb", i(0), E.div(E.add(g.Kv, i(GEMV_LANES - 1)), i(GEMV_LANES)), chunk.stmts);
}

/** The lanes folded by halves (l += l + 8, + 4, + 2, + 1) and stored as y[n], NaN canonical. */
export function foldLanes(g: GemvParts, row: Block, accs: readonly Acc[]): void {
  for (let half = GEMV_LANES / 2; half >= 1; half /= 2)
    for (let l = 0; l < half; l++) row.push(accs[l].set(E.add(accs[l].ref, accs[l + half].ref)));
  const y = accs[0].ref;
  row.push(K.store("y", g.n, E.select(E.ne(y, y), f(NaN), y)));
}

/** Row accumulators, the rows loop around `body`, the fold: the kernel's body. */
export function gemvRows(g: GemvParts, body: (row: Block, accs: readonly Acc[]) => void): Stmt[] {
  const row = new Block("r");
  const accs = Array.from({ length: GEMV_LANES }, (_, l) => row.mutable(`acc${l}`, f(0)));
  body(row, accs);
  foldLanes(g, row, accs);
  g.top.push(K.for("n", i(0), K.v("N", "i32"), row.stmts));
  return g.top.stmts;
}
