/**
 * Dequant-fused GEMV, y = W x with W quantized [N, K] (blocks along K), in the
 * declared reduction order: 16 lane accumulators taking products in element
 * order (product k goes to lane k mod 16), then halves folded: lane l += lane
 * l + 8, then l + 4, l + 2, l + 1. Every product and sum is one fl32 op.
 */
import { dequantize, type QuantizedTensor } from "./quantize.js";

const fl32 = Math.fround;
export const GEMV_LANES = 16;

export function gemv(w: QuantizedTensor, x: Float32Array): Float32Array {
  if (w.shape.length !== 2)
    throw new RangeError(`gemv: weights must be 2-D [N, K], got [${w.shape.join(", ")}]`);
  const [N, K] = w.shape;
  if (x.length !== K)
    throw new RangeError(`gemv: x has ${x.length} elements, the weights have K = ${K} columns`);
  const wd = dequantize(w);
  const y = new Float32Array(N);
  const acc = new Float32Array(GEMV_LANES);
  for (let n = 0; n < N; n++) {
    acc.fill(0);
    for (let k = 0; k < K; k++)
      acc[k % GEMV_LANES] = fl32(acc[k % GEMV_LANES] + fl32(wd[n * K + k] * x[k]));
    for (let half = GEMV_LANES / 2; half >= 1; half /= 2)
      for (let l = 0; l < half; l++) acc[l] = fl32(acc[l] + acc[l + half]);
    y[n] = acc[0] === acc[0] ? acc[0] : NaN; // the canonical NaN, as every output
  }
  return y;
}

/** The same product in float64 with the rigorous bound gamma_K * sum |w x| of DESIGN.md, for `order: any` kernels. */
export function gemvReference(
  w: QuantizedTensor,
  x: Float32Array,
): { y: Float64Array; bound: Float64Array } {
  const [N, K] = w.shape;
  const wd = dequantize(w);
  const u = 2 ** -24;
  const gamma = (K * u) / (1 - K * u);
  const y = new Float64Array(N);
  const bound = new Float64Array(N);
  for (let n = 0; n < N; n++) {
    let s = 0;
    let a = 0;
    for (let k = 0; k < K; k++) {
      s += wd[n * K + k] * x[k];
      a += Math.abs(wd[n * K + k] * x[k]);
    }
    y[n] = s;
    bound[n] = gamma * a;
  }
  return { y, bound };
}
