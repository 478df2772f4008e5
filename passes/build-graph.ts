/** Pass 2: the op graph of a kernel request, unfused and without layout decisions. */
import type { Graph, GraphNode, GraphOp } from "../ir/graph.js";
import type { KernelSpec } from "../ir/program.js";

export function buildGraph(spec: KernelSpec): Graph {
  const nodes: GraphNode[] = [];
  const add = (op: GraphOp, ...inputs: number[]) => {
    nodes.push({ id: nodes.length, inputs, op });
    return nodes.length - 1;
  };
  const s = spec.scheme;
  const asym = s.scale.rule === "minmax";
  const quantizeFrom = (x: number) => {
    const ts = s.tensorScale ? add({ op: "tensor_scale", scheme: s }, x) : undefined;
    const scale = add({ op: "block_scale", scheme: s }, ...(ts === undefined ? [x] : [x, ts]));
    const codes = add({ op: "quantize", scheme: s }, x, scale);
    return { ts, scale, codes };
  };
  const rotated = (x: number) =>
    spec.rotate ? add({ op: "rotate", rotation: spec.rotate }, x) : x;
  if (spec.kind === "gemv") {
    const codes = add({ op: "input", role: "codes", dtype: "code" });
    const scales = add({ op: "input", role: "scales", dtype: "code" });
    const extra = [];
    if (asym) extra.push(add({ op: "input", role: "zeros", dtype: "code" }));
    if (s.tensorScale) extra.push(add({ op: "input", role: "tscale", dtype: "f32" }));
    const x = add({ op: "input", role: "x", dtype: spec.input });
    const y = add(
      { op: "gemv", scheme: s, activations: spec.input, order: spec.order ?? "fixed" },
      codes,
      scales,
      ...extra,
      x,
    );
    add({ op: "output", role: "y" }, y);
  } else if (spec.kind === "qdq_backward") {
    const x = rotated(add({ op: "input", role: "x", dtype: spec.input }));
    const gy = add({ op: "input", role: "gy", dtype: "f32" });
    const gx = add({ op: "qdq_backward", scheme: s }, x, gy);
    add({ op: "output", role: "gx" }, gx);
  } else if (spec.kind === "quantize") {
    const x = rotated(add({ op: "input", role: "x", dtype: spec.input }));
    const { ts, scale, codes } = quantizeFrom(x);
    add({ op: "output", role: "codes" }, codes);
    add({ op: "output", role: "scales" }, scale);
    if (asym) add({ op: "output", role: "zeros" }, scale);
    if (ts !== undefined) add({ op: "output", role: "tscale" }, ts);
  } else if (spec.kind === "dequantize") {
    const codes = add({ op: "input", role: "codes", dtype: "code" });
    const scales = add({ op: "input", role: "scales", dtype: "code" });
    const extra = [];
    if (asym) extra.push(add({ op: "input", role: "zeros", dtype: "code" }));
    if (s.tensorScale) extra.push(add({ op: "input", role: "tscale", dtype: "f32" }));
    const y = add({ op: "dequantize", scheme: s, output: spec.output }, codes, scales, ...extra);
    add({ op: "output", role: "y" }, y);
  } else {
    const x = rotated(add({ op: "input", role: "x", dtype: spec.input }));
    const { scale, codes } = quantizeFrom(x);
    const y = add({ op: "dequantize", scheme: s, output: spec.output }, codes, scale);
    add({ op: "output", role: "y" }, y);
  }
  return { name: spec.name, nodes };
}
