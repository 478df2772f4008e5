/**
 * Choosing variants: the best one under a bit budget, and, for a checkpoint,
 * one variant per tensor under a global budget.
 */
import type { Measurement } from "./measure.js";
import type { VariantSummary } from "./summary.js";

const EPS = 1e-9;

/** Highest QSNR within `budget` bits per element; ties go to fewer bits, then faster quantization. */
export function bestUnderBudget(rows: readonly VariantSummary[], budget: number): VariantSummary | undefined {
  let best: VariantSummary | undefined;
  for (const r of rows) {
    if (!(r.bitsPerElement <= budget + EPS) || Number.isNaN(r.qsnrDb)) continue;
    if (
      !best ||
      r.qsnrDb > best.qsnrDb ||
      (r.qsnrDb === best.qsnrDb &&
        (r.bitsPerElement < best.bitsPerElement ||
          (r.bitsPerElement === best.bitsPerElement && (r.quantizeMelemPerS ?? 0) > (best.quantizeMelemPerS ?? 0))))
    )
      best = r;
  }
  return best;
}

export interface TensorChoice {
  readonly tensor: string;
  readonly elements: number;
  readonly choice: Measurement;
}

export interface Allocation {
  readonly budget: number;
  /** element-weighted bits per element of the choices */
  readonly bitsPerElement: number;
  readonly choices: readonly TensorChoice[];
}

/** n x noise / signal: the tensor's relative error, weighted by its size */
const cost = (m: Measurement) => (m.signalEnergy > 0 ? (m.elements * m.noiseEnergy) / m.signalEnergy : 0);

/**
 * One measurement per tensor minimising the size-weighted sum of relative
 * errors (noise / signal energy) subject to the element-weighted mean of bits
 * per element being at most `budget`: a Lagrangian relaxation (each tensor
 * takes argmin cost + lambda n bits, lambda by bisection), then the upgrades
 * that still fit, best error reduction per bit first. Undefined when even the
 * cheapest choices exceed the budget.
 */
export function allocate(byTensor: ReadonlyMap<string, readonly Measurement[]>, budget: number): Allocation | undefined {
  const tensors = [...byTensor.entries()]
    .map(([tensor, ms]) => ({ tensor, ms: ms.filter((m) => !Number.isNaN(m.qsnrDb)) }))
    .filter((t) => t.ms.length > 0);
  if (tensors.length === 0) return undefined;
  const total = tensors.reduce((a, t) => a + t.ms[0].elements, 0);
  const limit = budget * total + EPS * total;
  const spent = (pick: Measurement[]) => pick.reduce((a, m) => a + m.bitsPerElement * m.elements, 0);
  const solve = (lambda: number) =>
    tensors.map(({ ms }) =>
      ms.reduce((best, m) => {
        const d = cost(m) + lambda * m.elements * m.bitsPerElement - (cost(best) + lambda * best.elements * best.bitsPerElement);
        return d < 0 || (d === 0 && m.bitsPerElement < best.bitsPerElement) ? m : best;
      }),
    );
  let pick = solve(0);
  if (spent(pick) > limit) {
    let lo = 0;
    let hi = 1;
    while (spent(solve(hi)) > limit && hi < 1e30) hi *= 4;
    pick = solve(hi);
    if (spent(pick) > limit) return undefined;
    for (let i = 0; i < 200; i++) {
      const mid = (lo + hi) / 2;
      const p = solve(mid);
      if (spent(p) <= limit) {
        hi = mid;
        pick = p;
      } else lo = mid;
    }
    // spend what is left on the upgrades with the best error reduction per bit
    for (;;) {
      const left = limit - spent(pick);
      let bestGain = 0;
      let at = -1;
      let to: Measurement | undefined;
      tensors.forEach(({ ms }, i) => {
        for (const m of ms) {
          const extra = (m.bitsPerElement - pick[i].bitsPerElement) * m.elements;
          const gain = cost(pick[i]) - cost(m);
          if (extra > 0 && extra <= left && gain > 0 && gain / extra > bestGain) {
            bestGain = gain / extra;
            at = i;
            to = m;
          }
        }
      });
      if (!to) break;
      pick = pick.map((m, i) => (i === at ? to! : m));
    }
  }
  return {
    budget,
    bitsPerElement: spent(pick) / total,
    choices: tensors.map((t, i) => ({ tensor: t.tensor, elements: t.ms[0].elements, choice: pick[i] })),
  };
}
