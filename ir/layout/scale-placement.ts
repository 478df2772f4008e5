/**
 * Which kernels can place their scales in a layout other than `plain`. The
 * NVIDIA 128x4 swizzle tiles a 2-D matrix of 8-bit scales S[rows, K/block]
 * (SEMANTICS.md section 5), so it needs blocks along the last axis, one 8-bit
 * scale per block and nothing else per block (no zero points), on a kernel
 * that writes or reads scales. The DSL and the validate pass both ask here.
 */
import { formatBits } from "../formats/index.js";
import type { KernelSpec, ScaleLayout } from "../program.js";
import { nvidia128x4Shape } from "./swizzle.js";

/** The layout a request places its scales in. */
export const scaleLayoutOf = (spec: KernelSpec): ScaleLayout => spec.scaleLayout ?? "plain";

/** Why `spec` cannot place its scales in its scale layout (a sentence naming the fix), or undefined. */
export function scaleLayoutProblem(spec: KernelSpec): string | undefined {
  const layout = scaleLayoutOf(spec);
  if (layout === "plain") return undefined;
  const s = spec.scheme;
  const fix = "use scale layout plain";
  if (spec.kind === "qdq" || spec.kind === "qdq_backward")
    return `a ${spec.kind} kernel keeps its scales to itself; the ${layout} scale layout is for quantize, dequantize and gemv (drop scale_layout from this kernel)`;
  if (s.block.kind !== "axis" || ![-1, 1].includes(s.block.axis))
    return `${layout} scales need blocks along the last axis of a 2-D tensor; scheme ${s.name} has ${s.block.kind === "tile" ? `${s.block.rows}x${s.block.cols} tiles` : `blocks on axis ${s.block.axis}`} (${fix})`;
  if (s.doubleQuant)
    return `scheme ${s.name} compresses its scales with double quantization; ${layout} holds plain 8-bit scales (${fix})`;
  const bits = formatBits(s.scale.format);
  if (bits !== 8)
    return `${layout} holds 8-bit scales (E8M0, E4M3); scheme ${s.name} has ${bits}-bit ${s.scale.format.name} scales (${fix})`;
  if (s.scale.rule === "minmax")
    return `scheme ${s.name} has a zero point per block, which ${layout} has no place for (${fix})`;
  return undefined;
}

/** Why the scales of a tensor of `shape` cannot sit in `layout` (a sentence naming the fix), or undefined. */
export function scaleShapeProblem(
  layout: ScaleLayout,
  shape: readonly number[],
): string | undefined {
  if (layout === "plain" || shape.length === 2) return undefined;
  return `${layout} scales need a 2-D tensor [rows, K]; the tensor has shape [${shape.join(", ")}] (reshape it to 2-D, or use scale layout plain)`;
}

/** The shape of a block grid's scales as stored in `layout` (the 128x4 layout pads a 2-D grid). */
export function storedScaleShape(layout: ScaleLayout, grid: readonly number[]): number[] {
  if (layout === "plain") return [...grid];
  if (grid.length !== 2)
    throw new Error(`qkc bug: ${layout} scales of a ${grid.length}-D block grid`);
  return nvidia128x4Shape(grid[0], grid[1]);
}

/** The manifest's account of a scale layout: what a reader needs to find scale (r, c). */
export function describeScaleLayout(layout: ScaleLayout): Record<string, unknown> {
  if (layout === "plain") return { kind: "row_major_block_grid" };
  return {
    kind: "nvidia_128x4",
    tile: [128, 4],
    tileBytes: 512,
    offset:
      "((r / 128) * (C_pad / 4) + c / 4) * 512 + (r % 32) * 16 + ((r % 128) / 32) * 4 + c % 4",
    padding: { rows: 128, columns: 4, fill: 0 },
  };
}
