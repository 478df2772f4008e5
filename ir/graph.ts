/**
 * The op graph of one kernel request: what is computed, before any decision of
 * how. Passes rewrite it (fuse, choose layouts) and lowering turns it into
 * KernelIR. Nodes are in topological order; `inputs` name earlier nodes.
 */
import type { NibbleOrder } from "./layout/index.js";
import type { Rotation, ScaleLayout } from "./program.js";
import type { Scheme } from "./scheme.js";
import type { DType } from "./tensor.js";

export type CodeLayout =
  | { readonly kind: "unpacked" }
  /** 4-bit codes, two per byte */
  | { readonly kind: "nibbles"; readonly order: NibbleOrder }
  /** 6-bit codes, four per three bytes, least significant bit first */
  | { readonly kind: "bits6" };

export type GraphOp =
  | {
      readonly op: "input";
      readonly role: "x" | "codes" | "scales" | "zeros" | "tscale" | "gy";
      readonly dtype: DType | "code";
    }
  /** block Hadamard rotation along the last axis */
  | { readonly op: "rotate"; readonly rotation: Rotation }
  /** y = W x with W dequantized on the fly (inputs: codes, scales, [zeros], [tscale], x) */
  | {
      readonly op: "gemv";
      readonly scheme: Scheme;
      readonly activations: DType;
      readonly order: "fixed" | "any";
    }
  /** straight-through gradient with the clip mask (inputs: x, gy) */
  | { readonly op: "qdq_backward"; readonly scheme: Scheme }
  /** max |x| over the finite elements of the whole tensor, and the two-level scales from it */
  | { readonly op: "tensor_scale"; readonly scheme: Scheme }
  /** per block: scale code, value, multiplier (and zero point) */
  | { readonly op: "block_scale"; readonly scheme: Scheme }
  | { readonly op: "quantize"; readonly scheme: Scheme }
  | { readonly op: "dequantize"; readonly scheme: Scheme; readonly output: DType }
  /** quantize then dequantize in one pass over memory (after fusion) */
  | { readonly op: "qdq"; readonly scheme: Scheme; readonly output: DType }
  | { readonly op: "pack"; readonly layout: CodeLayout }
  | { readonly op: "unpack"; readonly layout: CodeLayout }
  /** block scales stored in a layout other than plain row-major (quantize side) */
  | { readonly op: "swizzle"; readonly layout: ScaleLayout }
  /** block scales read from a layout other than plain row-major (dequantize, gemv) */
  | { readonly op: "unswizzle"; readonly layout: ScaleLayout }
  | { readonly op: "output"; readonly role: "codes" | "scales" | "zeros" | "tscale" | "y" | "gx" };

export interface GraphNode {
  readonly id: number;
  readonly inputs: readonly number[];
  readonly op: GraphOp;
}

export interface Graph {
  readonly name: string;
  readonly nodes: readonly GraphNode[];
}

export function printGraph(g: Graph): string {
  const lines = [`graph ${g.name} {`];
  for (const n of g.nodes) {
    const { op, ...fields } = n.op;
    const args = Object.entries(fields)
      .map(
        ([k, v]) =>
          `${k}=${typeof v === "object" && v !== null && "name" in v ? (v as { name: string }).name : JSON.stringify(v)}`,
      )
      .join(" ");
    lines.push(
      `  %${n.id} = ${op}(${n.inputs.map((i) => `%${i}`).join(", ")})${args ? " " + args : ""}`,
    );
  }
  lines.push("}");
  return lines.join("\n");
}
