/**
 * Quantization error metrics of a reconstruction xhat of x, accumulated in
 * float64. Only pairs where both values are finite enter MSE, QSNR and max
 * error; non-finite values are counted instead, so one NaN cannot hide the rest.
 */

export interface ErrorMetrics {
  /** pairs compared: x and xhat both finite */
  readonly count: number;
  /** finite inputs reconstructed as NaN or +-Inf */
  readonly nonFiniteOutputs: number;
  /** inputs that are NaN or +-Inf (left out of every metric) */
  readonly nonFiniteInputs: number;
  /** mean of (x - xhat)^2; NaN when nothing was compared */
  readonly mse: number;
  /** 10 log10(sum x^2 / sum (x - xhat)^2); +Infinity when the error is zero */
  readonly qsnrDb: number;
  readonly maxAbsError: number;
}

export function qsnrDb(signal: number, noise: number): number {
  return noise === 0 ? Infinity : 10 * Math.log10(signal / noise);
}

export function errorMetrics(x: Float32Array, xhat: Float32Array): ErrorMetrics {
  if (x.length !== xhat.length)
    throw new RangeError(`errorMetrics: ${x.length} inputs but ${xhat.length} outputs`);
  let count = 0;
  let nonFiniteOutputs = 0;
  let nonFiniteInputs = 0;
  let signal = 0;
  let noise = 0;
  let maxAbsError = 0;
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    const w = xhat[i];
    if (!Number.isFinite(v)) nonFiniteInputs++;
    else if (!Number.isFinite(w)) nonFiniteOutputs++;
    else {
      const e = v - w;
      count++;
      signal += v * v;
      noise += e * e;
      maxAbsError = Math.max(maxAbsError, Math.abs(e));
    }
  }
  return {
    count,
    nonFiniteOutputs,
    nonFiniteInputs,
    mse: count === 0 ? NaN : noise / count,
    qsnrDb: count === 0 ? NaN : qsnrDb(signal, noise),
    maxAbsError,
  };
}
