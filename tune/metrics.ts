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

/** Every measurement `qkc tune` makes of one reconstruction (docs/tune.md defines each). */
export interface TuneMetrics extends ErrorMetrics {
  /** sum of x^2 and of (x - xhat)^2 over the compared pairs, so runs over several tensors can be pooled */
  readonly signalEnergy: number;
  readonly noiseEnergy: number;
  /** max |x - xhat| / |x| over compared pairs with x != 0 (1 wherever a small value flushes to zero) */
  readonly maxRelError: number;
  /** mean over blocks of |x_m - xhat_m| / |x_m|, m the element of largest |x| (first on ties); blocks with amax 0 or a non-finite value are left out */
  readonly blockMaxRelError: number;
  /** KL(P || Q) in nats between the value histograms of x (P) and xhat (Q), see `histogramKl` */
  readonly klDivergence: number;
}

export const KL_BINS = 256;

/**
 * Counts of the finite values of `v` in `bins` equal bins over [-range, range];
 * values outside fall in the edge bins.
 */
export function histogram(v: Float32Array, range: number, bins = KL_BINS): Float64Array {
  const h = new Float64Array(bins);
  const k = range > 0 ? bins / (2 * range) : 0;
  for (let i = 0; i < v.length; i++) {
    const x = v[i];
    if (!Number.isFinite(x)) continue;
    h[Math.min(bins - 1, Math.max(0, Math.floor((x + range) * k)))]++;
  }
  return h;
}

/**
 * KL(P || Q) in nats for two histograms of the same total: P = p / sum p and
 * Q = (q + 1/2) / (sum q + bins / 2). The half count in every bin of Q (the
 * Krichevsky-Trofimov estimate) keeps KL finite where a quantizer leaves bins
 * empty that the data fills.
 */
export function histogramKl(p: Float64Array, q: Float64Array): number {
  let np = 0;
  let nq = 0;
  for (let i = 0; i < p.length; i++) {
    np += p[i];
    nq += q[i];
  }
  if (np === 0) return NaN;
  const qTotal = nq + p.length / 2;
  let kl = 0;
  for (let i = 0; i < p.length; i++)
    if (p[i] > 0) kl += (p[i] / np) * Math.log(p[i] / np / ((q[i] + 0.5) / qTotal));
  return kl;
}

/** Element offsets of each block, as the scheme groups them (ir/interpret/blocks.ts). */
export interface Blocks {
  readonly count: number;
  readonly maxBlockSize: number;
  offsets(b: number, out: Int32Array): number;
}

/** All of `qkc tune`'s error metrics of xhat against x, the blocks as the scheme forms them. */
export function tuneMetrics(x: Float32Array, xhat: Float32Array, blocks: Blocks): TuneMetrics {
  const base = errorMetrics(x, xhat);
  let signalEnergy = 0;
  let noiseEnergy = 0;
  let maxRelError = 0;
  let range = 0;
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    const w = xhat[i];
    if (!Number.isFinite(v) || !Number.isFinite(w)) continue;
    signalEnergy += v * v;
    noiseEnergy += (v - w) * (v - w);
    if (v !== 0) maxRelError = Math.max(maxRelError, Math.abs(v - w) / Math.abs(v));
    range = Math.max(range, Math.abs(v));
  }
  const at = new Int32Array(blocks.maxBlockSize);
  let blockSum = 0;
  let blockCount = 0;
  for (let b = 0; b < blocks.count; b++) {
    const n = blocks.offsets(b, at);
    let m = -1;
    let amax = 0;
    let finite = true;
    for (let t = 0; t < n; t++) {
      const a = Math.abs(x[at[t]]);
      if (!Number.isFinite(a)) finite = false;
      else if (a > amax) {
        amax = a;
        m = at[t];
      }
    }
    if (!finite || m < 0 || !Number.isFinite(xhat[m])) continue;
    blockSum += Math.abs(x[m] - xhat[m]) / amax;
    blockCount++;
  }
  return {
    ...base,
    signalEnergy,
    noiseEnergy,
    maxRelError,
    blockMaxRelError: blockCount === 0 ? NaN : blockSum / blockCount,
    klDivergence: histogramKl(histogram(x, range), histogram(xhat, range)),
  };
}
