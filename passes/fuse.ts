/**
 * Pass 3: fusion. A dequantize that reads a quantize of the same scheme in the
 * same graph becomes one `qdq` node: one pass over memory, no codes written.
 */
import type { Graph, GraphNode } from "../ir/graph.js";

export function fuse(g: Graph): Graph {
  const byId = new Map(g.nodes.map((n) => [n.id, n]));
  const fused = new Set<number>();
  const nodes: GraphNode[] = g.nodes.map((n) => {
    if (n.op.op !== "dequantize") return n;
    const q = byId.get(n.inputs[0]);
    if (q?.op.op !== "quantize" || q.op.scheme !== n.op.scheme) return n;
    fused.add(q.id);
    return {
      id: n.id,
      inputs: q.inputs,
      op: { op: "qdq", scheme: n.op.scheme, output: n.op.output },
    };
  });
  // the quantize node survives only if something else still reads it
  const readers = new Set(nodes.flatMap((n) => n.inputs));
  return { name: g.name, nodes: nodes.filter((n) => !fused.has(n.id) || readers.has(n.id)) };
}
