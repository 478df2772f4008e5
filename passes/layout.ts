/**
 * Pass 4: layouts. Codes leaving a quantize kernel are packed per the kernel's
 * `layout` field: 4-bit codes two per byte (element 2i in the low nibble, the
 * torchao/TE/ModelOpt order), 6-bit codes four per three bytes; wider codes are
 * already dense. Scales are one per block, row-major over the block grid or
 * in the layout the request names (scale-layout.ts).
 */
import type { CodeLayout, Graph, GraphNode } from "../ir/graph.js";
import { formatBits } from "../ir/formats/index.js";
import type { KernelSpec } from "../ir/program.js";
import { placeScales } from "./scale-layout.js";

export function codeLayout(spec: KernelSpec): CodeLayout {
  if (spec.layout === "unpacked") return { kind: "unpacked" };
  const bits = formatBits(spec.scheme.element);
  if (bits === 4) return { kind: "nibbles", order: "low_first" };
  if (bits === 6) return { kind: "bits6" };
  return { kind: "unpacked" };
}

export function layout(g: Graph, spec: KernelSpec): Graph {
  return placeScales(packCodes(g, spec), spec);
}

function packCodes(g: Graph, spec: KernelSpec): Graph {
  const packing = codeLayout(spec);
  if (packing.kind === "unpacked") return g;
  const nodes: GraphNode[] = [];
  let next = Math.max(...g.nodes.map((n) => n.id)) + 1;
  for (const n of g.nodes) {
    if (n.op.op === "output" && n.op.role === "codes") {
      const pack: GraphNode = { id: next++, inputs: n.inputs, op: { op: "pack", layout: packing } };
      nodes.push(pack, { ...n, inputs: [pack.id] });
    } else if (
      (n.op.op === "dequantize" || n.op.op === "gemv") &&
      g.nodes.find((m) => m.id === n.inputs[0])?.op.op === "input"
    ) {
      const unpack: GraphNode = {
        id: next++,
        inputs: [n.inputs[0]],
        op: { op: "unpack", layout: packing },
      };
      nodes.push(unpack, { ...n, inputs: [unpack.id, ...n.inputs.slice(1)] });
    } else {
      nodes.push(n);
    }
  }
  return { name: g.name, nodes };
}
