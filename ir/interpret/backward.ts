/**
 * The backward of fake quantization: the straight-through estimator with the
 * clip mask. grad_x = grad_y where the element input v = fl32(x * mult) lies in
 * the element's range (|v| <= Qmax; with a zero point z, -z <= v <= Qmax - z),
 * else 0. Blocks holding NaN or Inf pass no gradient. The mask tests v before
 * rounding, so it does not depend on the rounding mode or its random bits.
 */
import { codec } from "../formats/index.js";
import type { Scheme } from "../scheme.js";
import { toFloat32, type Tensor } from "../tensor.js";
import { blockGrid } from "./blocks.js";
import { blockStats, finiteAmax } from "./quantize.js";
import { ScaleRuleContext, tensorScale, type BlockStats } from "./scales.js";

const fl32 = Math.fround;

export function qdqBackward(scheme: Scheme, x: Tensor, gradY: Float32Array): Float32Array {
  const data = toFloat32(x);
  if (gradY.length !== data.length)
    throw new RangeError(
      `qdq_backward: the gradient has ${gradY.length} elements, x has ${data.length}`,
    );
  const grid = blockGrid(x.shape, scheme.block);
  const ts = scheme.tensorScale ? tensorScale(scheme, finiteAmax(data)) : undefined;
  const rules = new ScaleRuleContext(scheme, ts?.encode ?? 1);
  const qmax = codec(scheme.element).maxFinite;
  const asym = scheme.scale.rule === "minmax";
  const offs = new Int32Array(grid.maxBlockSize);
  const st: BlockStats = { amax: 0, min: 0, max: 0, nonfinite: false };
  const grad = new Float32Array(data.length);
  for (let b = 0; b < grid.count; b++) {
    const n = grid.offsets(b, offs);
    const s = rules.blockScale(blockStats(data, offs, n, st));
    const lo = asym ? -s.zero : -qmax;
    const hi = asym ? qmax - s.zero : qmax;
    for (let t = 0; t < n; t++) {
      const i = offs[t];
      const v = fl32(data[i] * s.mult);
      grad[i] = v >= lo && v <= hi ? gradY[i] : 0;
    }
  }
  return grad;
}
