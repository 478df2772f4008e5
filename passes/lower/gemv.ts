/**
 * Dequant-fused GEMV as KernelIR: y[n] = sum_k w_hat[n, k] x[k]. W is [N, K]
 * with blocks along K.
 * - order "fixed": the declared order of ir/interpret/gemv.ts, 16 lane
 *   accumulators in element order, then halves folded (bit-exact).
 * - order "any": the scale factored out of each block (gemv-any.ts), held to
 *   the bound gamma_K * sum |w x| of DESIGN.md contract 2.
 */
import type { Kernel, Param } from "../../ir/kernel.js";
import { codec, f16, formatBits } from "../../ir/formats/index.js";
import type { Scheme } from "../../ir/scheme.js";
import type { DType } from "../../ir/tensor.js";
import { Block } from "./builder.js";
import { valuesTable } from "./scale.js";
import { checkLowerable, elemOf, LoweringError } from "./kernels.js";
import type { CodeLayout } from "../../ir/graph.js";
import type { ScaleLayout } from "../../ir/program.js";
import { gemvAnyBody, topScaling } from "./gemv-any.js";
import { elementChunks, gemvParts, gemvRows, GEMV_LANES as LANES } from "./gemv-parts.js";

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
  if (order === "any") {
    const top = topScaling(s);
    const body = gemvAnyBody(s, activations, codes, scaleLayout);
    return { name, params, tables: top ? [...tables, top.table] : tables, body, contract: true };
  }
  const g = gemvParts(
    s,
    activations,
    codes,
    scaleLayout,
    `gemv ${s.name}: y = W x, ${LANES} lane accumulators in element order, halves folded`,
  );
  return { name, params, tables, body: gemvRows(g, (row, accs) => row.push(elementChunks(g, accs))) };
}
