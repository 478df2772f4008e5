/**
 * Measurements of one variant over several tensors pooled into one row. QSNR
 * is that of the size-weighted mean noise-to-signal ratio, -10 log10(sum n_i
 * noise_i / signal_i / sum n_i), so a tensor of large values (a norm's gain
 * around 1) does not drown the relative error of the weights around it; for
 * one tensor it is the tensor's QSNR. MSE is over all elements; bits and the
 * other means are weighted by element count, maxima taken over all tensors.
 */
import type { Measurement } from "./measure.js";
import { qsnrDb } from "./metrics.js";
import type { Variant } from "./variants.js";

export interface VariantSummary {
  readonly variant: string;
  readonly family: string;
  readonly spec: Variant["spec"];
  readonly tensors: number;
  readonly elements: number;
  readonly bitsPerElement: number;
  readonly mse: number;
  readonly qsnrDb: number;
  readonly maxAbsError: number;
  readonly maxRelError: number;
  readonly blockMaxRelError: number;
  readonly klDivergence: number;
  readonly nonFiniteOutputs: number;
  /** million elements per second over all timed slices (total elements / total median time) */
  readonly quantizeMelemPerS?: number;
  readonly dequantizeMelemPerS?: number;
}

export function summarize(v: Variant, ms: readonly Measurement[]): VariantSummary {
  let elements = 0;
  let count = 0;
  let nsr = 0;
  let noise = 0;
  let bits = 0;
  let blockMax = 0;
  let kl = 0;
  let maxAbs = 0;
  let maxRel = 0;
  let nonFinite = 0;
  let timed = 0;
  let qMs = 0;
  let dMs = 0;
  for (const m of ms) {
    elements += m.elements;
    count += m.count;
    nsr += m.signalEnergy > 0 ? (m.elements * m.noiseEnergy) / m.signalEnergy : m.noiseEnergy > 0 ? Infinity : 0;
    noise += m.noiseEnergy;
    bits += m.bitsPerElement * m.elements;
    blockMax += m.blockMaxRelError * m.elements;
    kl += m.klDivergence * m.elements;
    maxAbs = Math.max(maxAbs, m.maxAbsError);
    maxRel = Math.max(maxRel, m.maxRelError);
    nonFinite += m.nonFiniteOutputs;
    if (m.throughput) {
      timed += m.throughput.elements;
      qMs += m.throughput.quantizeMs;
      dMs += m.throughput.dequantizeMs;
    }
  }
  return {
    variant: v.name,
    family: v.family,
    spec: v.spec,
    tensors: ms.length,
    elements,
    bitsPerElement: bits / elements,
    mse: count === 0 ? NaN : noise / count,
    qsnrDb: count === 0 ? NaN : qsnrDb(elements, nsr),
    maxAbsError: maxAbs,
    maxRelError: maxRel,
    blockMaxRelError: blockMax / elements,
    klDivergence: kl / elements,
    nonFiniteOutputs: nonFinite,
    ...(timed > 0 ? { quantizeMelemPerS: timed / qMs / 1e3, dequantizeMelemPerS: timed / dMs / 1e3 } : {}),
  };
}
