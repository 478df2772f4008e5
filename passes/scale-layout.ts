/**
 * Part of pass 4 (layout): where the block scales sit. A request with a scale
 * layout other than plain gets a `swizzle` node in front of its scales output
 * (quantize) or an `unswizzle` node behind its scales input (dequantize,
 * gemv); lowering reads the layout back from the graph (`graphScaleLayout`).
 */
import type { Graph, GraphNode } from "../ir/graph.js";
import type { KernelSpec, ScaleLayout } from "../ir/program.js";
import { scaleLayoutOf } from "../ir/layout/scale-placement.js";

export function placeScales(g: Graph, spec: KernelSpec): Graph {
  const layout = scaleLayoutOf(spec);
  if (layout === "plain") return g;
  const nodes: GraphNode[] = [];
  let next = Math.max(...g.nodes.map((n) => n.id)) + 1;
  let input: { from: number; to: number } | undefined;
  for (const n of g.nodes) {
    const inputs = n.inputs.map((i) => (i === input?.from ? input.to : i));
    if (n.op.op === "output" && n.op.role === "scales") {
      const swizzle: GraphNode = { id: next++, inputs, op: { op: "swizzle", layout } };
      nodes.push(swizzle, { ...n, inputs: [swizzle.id] });
    } else if (n.op.op === "input" && n.op.role === "scales") {
      const unswizzle: GraphNode = { id: next++, inputs: [n.id], op: { op: "unswizzle", layout } };
      nodes.push(n, unswizzle);
      input = { from: n.id, to: unswizzle.id };
    } else {
      nodes.push({ ...n, inputs });
    }
  }
  return { name: g.name, nodes };
}

/** The scale layout a laid-out graph chose. */
export function graphScaleLayout(g: Graph): ScaleLayout {
  for (const n of g.nodes) if (n.op.op === "swizzle" || n.op.op === "unswizzle") return n.op.layout;
  return "plain";
}
