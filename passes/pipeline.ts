/**
 * The compiler's passes, in order, readable top to bottom (Halide's Lower.cpp
 * is the model). Each is a pure function of the previous stage's output;
 * `compile(spec, { dump })` can print the state after any of them.
 */
import { printGraph, type Graph } from "../ir/graph.js";
import { printKernel } from "../ir/kernel-print.js";
import type { KernelSpec } from "../ir/program.js";
import { buildGraph } from "./build-graph.js";
import { fuse } from "./fuse.js";
import { layout } from "./layout.js";
import { lower, type Plan } from "./lower.js";
import { validate, CompileError } from "./validate.js";

export const PASS_NAMES = ["validate", "graph", "fuse", "layout", "lower"] as const;
export type PassName = (typeof PASS_NAMES)[number];

export interface CompileResult {
  plan: Plan;
  /** the printed state after each pass asked for */
  dumps: Partial<Record<PassName, string>>;
}

export function compile(
  input: KernelSpec,
  options: { dump?: readonly PassName[] } = {},
): CompileResult {
  const dumps: CompileResult["dumps"] = {};
  const keep = (pass: PassName, text: () => string) => {
    if (options.dump?.includes(pass)) dumps[pass] = text();
  };

  const spec = validate(input);
  keep("validate", () => JSON.stringify({ ...spec, scheme: spec.scheme.name }, null, 2));
  let g: Graph = buildGraph(spec);
  keep("graph", () => printGraph(g));
  g = fuse(g);
  keep("fuse", () => printGraph(g));
  g = layout(g, spec);
  keep("layout", () => printGraph(g));
  const plan = lower(g, spec);
  keep("lower", () => plan.kernels.map(printKernel).join("\n\n"));
  return { plan, dumps };
}

export { CompileError };
