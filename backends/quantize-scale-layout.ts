/**
 * Quantize with the scales in a layout other than plain, on any backend (plain
 * scales: Runner.quantize in runner.ts). The compiled
 * backends run the kernel of a request with that scale layout (the scales
 * come out of the kernel already placed); the interpreter, which knows no
 * layouts, gives its scales placed by the host reference (ir/layout/swizzle.ts).
 * For `qkc quantize --scale-layout`.
 */
import { quantize as interpQuantize } from "../ir/interpret/index.js";
import { blockGrid } from "../ir/interpret/blocks.js";
import {
  scaleLayoutProblem,
  scaleShapeProblem,
  storedScaleShape,
} from "../ir/layout/scale-placement.js";
import { swizzleNvidia128x4 } from "../ir/layout/swizzle.js";
import type { KernelSpec, ScaleLayout } from "../ir/program.js";
import type { Scheme } from "../ir/scheme.js";
import type { CodeArray, Tensor } from "../ir/tensor.js";
import { runRequest, type Backend } from "./runner.js";

/** The scale layouts other than plain (one today). */
export type PlacedLayout = Exclude<ScaleLayout, "plain">;

export interface PlacedQuantization {
  /** one code per element, row-major */
  readonly codes: CodeArray;
  /** the scale codes in `layout` (padding bytes 0) */
  readonly scales: Uint8Array;
  /** the shape of `scales` as stored: [pad(rows, 128), pad(cols, 4)] */
  readonly scaleShape: readonly number[];
  readonly tensorScale?: { amax: number; encode: number; decode: number };
}

/** The one-line reason `layout` cannot hold the scales of `s` on tensor shape `shape`, or undefined. */
export function placementProblem(
  s: Scheme,
  shape: readonly number[],
  layout: PlacedLayout,
): string | undefined {
  return scaleLayoutProblem(request(s, "f32", layout)) ?? scaleShapeProblem(layout, shape);
}

const request = (s: Scheme, input: KernelSpec["input"], layout: PlacedLayout): KernelSpec => ({
  name: `quantize_${s.name}_${layout}`,
  kind: "quantize",
  scheme: s,
  input,
  output: "f32",
  layout: "unpacked",
  scaleLayout: layout,
});

export async function quantizePlaced(
  backend: Backend,
  s: Scheme,
  x: Tensor,
  layout: PlacedLayout,
  seed = 0,
): Promise<PlacedQuantization> {
  const problem = placementProblem(s, x.shape, layout);
  if (problem) throw new RangeError(problem);
  const grid = blockGrid(x.shape, s.block).gridShape;
  const scaleShape = storedScaleShape(layout, grid);
  if (backend === "interp") {
    const q = interpQuantize(s, x, { seed });
    const scales = swizzleNvidia128x4(Uint8Array.from(q.scales), grid[0], grid[1], 0);
    return { codes: q.codes, scales, scaleShape, tensorScale: q.tensorScale };
  }
  const out = await runRequest(backend, request(s, x.dtype, layout), x.shape, { x: x.data }, seed);
  const t = out.tscale as Float32Array | undefined;
  return {
    codes: out.codes as CodeArray,
    scales: out.scales as Uint8Array,
    scaleShape,
    ...(t ? { tensorScale: { amax: t[0], encode: t[1], decode: t[2] } } : {}),
  };
}
