/**
 * Dequant-fused GEMV as KernelIR: y[n] = sum_k w_hat[n, k] x[k]. W is [N, K]
 * with blocks along K.
 * - order "fixed": the declared order of ir/interpret/gemv.ts, 16 lane
 *   accumulators in element order, then halves folded (bit-exact).
 * - order "any": the scale factored out of each block (gemv-any.ts), held to
 *   the bound gamma_K * sum |w x| of DESIGN.md contract 2.
 */
import { K, type Expr, type Kernel, type Param, type Stmt } from "../../ir/kernel.js";
import { codec, f16, formatBits } from "../../ir/formats/index.js";
import type { Scheme } from "../../ir/scheme.js";
import type { DType } from "../../ir/tensor.js";
import { Block, E } from "./builder.js";
import { decodeExpr, valuesTable } from "./scale.js";
import { checkLowerable, elemOf, LoweringError } from "./kernels.js";
import { packedCodeExpr } from "./pack.js";
import type { CodeLayout } from "../../ir/graph.js";
import type { ScaleLayout } from "../../ir/program.js";
import { scaleIndex } from "./scale-place.js";
import { gemvAnyBody } from "./gemv-any.js";

const LANES = 16;
const u = K.u32;
const i = K.i32;
const f = K.f32;

export function lowerGemv(
  name: string,
  s: Scheme,
  activations: DType,
  codes: CodeLayout = { kind: "unpacked" },
  scaleLayout: ScaleLayout = "plain",
  order: "fixed" | "any" = "fixed",
): Kernel {
  checkLowerable(s);
  if (s.block.kind !== "axis" || (s.block.axis !== -1 && s.block.axis !== 1))
    throw new LoweringError(`scheme ${s.name}: gemv needs blocks along K (the last axis of W)`);
  Block.resetNames();
  const elem = codec(s.element);
  const scale = codec(s.scale.format);
  const asym = s.scale.rule === "minmax";
  const params: Param[] = [
    {
      kind: "buffer",
      name: "codes",
      elem: codes.kind === "unpacked" ? elemOf(formatBits(s.element)) : "u8",
      access: "read",
    },
    { kind: "buffer", name: "scales", elem: elemOf(formatBits(s.scale.format)), access: "read" },
  ];
  if (asym)
    params.push({
      kind: "buffer",
      name: "zeros",
      elem: elemOf(formatBits(s.element)),
      access: "read",
    });
  if (s.tensorScale) params.push({ kind: "buffer", name: "tscale", elem: "f32", access: "read" });
  params.push(
    { kind: "buffer", name: "x", elem: activations === "f32" ? "f32" : "u16", access: "read" },
    { kind: "buffer", name: "y", elem: "f32", access: "write" },
    { kind: "scalar", name: "N", type: "i32" },
    { kind: "scalar", name: "K", type: "i32" },
  );
  const decoded = [elem, scale, ...(activations === "f16" ? [codec(f16)] : [])].filter(
    (c) => c.bits <= 16,
  );
  const tables = decoded
    .map(valuesTable)
    .filter((t, j, all) => all.findIndex((x) => x.name === t.name) === j);
  if (order === "any") return { name, params, tables, body: gemvAnyBody(s, activations, codes, scaleLayout) };
  const Kv = K.v("K", "i32");
  const top = new Block();
  top.comment(
    `gemv ${s.name}: y = W x, ${LANES} lane accumulators in element order, halves folded`,
  );
  const size = s.block.size === "all" ? undefined : s.block.size;
  const bsize = top.let("bsize", size === undefined ? E.max(Kv, i(1)) : i(size));
  const nb = top.let("nb", E.div(E.sub(E.add(Kv, bsize), i(1)), bsize));
  const second = s.tensorScale ? top.let("dscale", K.load("tscale", i(2), "f32")) : undefined;

  const row = new Block("r");
  const lanes = Array.from({ length: LANES }, (_, l) => row.mutable(`acc${l}`, f(0)));
  const chunk = new Block("c");
  for (let l = 0; l < LANES; l++) {
    const lane = new Block("l");
    const k = chunk.let("k", E.add(E.mul(K.v("kb", "i32"), i(LANES)), i(l)));
    const at = lane.let("at", E.add(E.mul(K.v("n", "i32"), Kv), k));
    const blk = lane.let("blk", scaleIndex(scaleLayout, K.v("n", "i32"), E.div(k, bsize), nb));
    const sv = lane.let("s", decodeExpr(scale, K.load("scales", blk, "u32")));
    const code = lane.let("code", packedCodeExpr(codes, "codes", at));
    let w: Expr;
    if (asym) w = E.mul(E.f32(E.sub(E.i32(code), E.i32(K.load("zeros", blk, "u32")))), sv);
    else if (second) w = E.mul(E.mul(decodeExpr(elem, code), sv), second);
    else w = E.mul(decodeExpr(elem, code), sv);
    const raw = K.load("x", k, activations === "f32" ? "f32" : "u32");
    const xv =
      activations === "f32"
        ? raw
        : activations === "bf16"
          ? E.float(E.shl(raw, u(16)))
          : decodeExpr(codec(f16), raw);
    const p = lane.let("p", E.mul(lane.let("w", w), xv));
    lane.push(lanes[l].set(E.add(lanes[l].ref, p)));
    chunk.push(K.if(E.lt(k, Kv), lane.stmts));
  }
  row.push(K.for("kb", i(0), E.div(E.add(Kv, i(LANES - 1)), i(LANES)), chunk.stmts));
  for (let half = LANES / 2; half >= 1; half /= 2)
    for (let l = 0; l < half; l++) row.push(lanes[l].set(E.add(lanes[l].ref, lanes[l + half].ref)));
  const y = lanes[0].ref;
  row.push(K.store("y", K.v("n", "i32"), E.select(E.ne(y, y), f(NaN), y)));
  top.push(K.for("n", i(0), K.v("N", "i32"), row.stmts as Stmt[]));
  return { name, params, tables, body: top.stmts };
}
