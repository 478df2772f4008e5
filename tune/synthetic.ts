/**
 * Deterministic synthetic tensors for error studies. The uniforms come from
 * Philox4x32-10 keyed by the seed, on counters kept apart from the ones
 * stochastic rounding uses, so data and rounding noise are independent even
 * under the same seed.
 */
import { philox4x32 } from "../ir/philox.js";

export type Distribution =
  /** N(0, 1) */
  | { readonly kind: "gaussian" }
  /** Laplace(0, 1): density exp(-|x|) / 2 */
  | { readonly kind: "laplace" }
  /** Student's t with nu degrees of freedom (heavy tails for small nu) */
  | { readonly kind: "student-t"; readonly nu: number }
  /** U[-1, 1) */
  | { readonly kind: "uniform" }
  /** N(0, 1) where each value, with probability 1/256, is multiplied by 16 (sparse large outliers) */
  | { readonly kind: "outliers" };

export const DISTRIBUTIONS = "gaussian, laplace, student-t:NU, uniform or outliers";

/** Parses "gaussian", "laplace", "student-t:NU", "uniform"; throws RangeError naming the choices. */
export function parseDistribution(text: string): Distribution {
  const [name, arg] = text.split(":", 2);
  if (name === "student-t") {
    const nu = Number(arg);
    if (arg === undefined || arg === "" || !(nu > 0 && Number.isFinite(nu)))
      throw new RangeError(`student-t needs positive degrees of freedom, e.g. student-t:5`);
    return { kind: "student-t", nu };
  }
  if (
    arg === undefined &&
    (name === "gaussian" || name === "laplace" || name === "uniform" || name === "outliers")
  )
    return { kind: name };
  throw new RangeError(`unknown distribution '${text}'; use ${DISTRIBUTIONS}`);
}

export function distributionName(d: Distribution): string {
  return d.kind === "student-t" ? `student-t:${d.nu}` : d.kind;
}

/** Philox counter word 2 for synthetic data; stochastic rounding uses 0. */
const SYNTHETIC_STREAM = 0x53594e54; // "SYNT"

/** Uniform numbers in (0, 1), four per Philox block, from counter 0 upwards. */
class UniformStream {
  private block = 0;
  private next = 4;
  private readonly words = new Uint32Array(4);

  constructor(private readonly seed: number) {}

  uniform(): number {
    if (this.next === 4) {
      const b = this.block++;
      const s = this.seed;
      philox4x32(
        b >>> 0,
        Math.floor(b / 2 ** 32) >>> 0,
        SYNTHETIC_STREAM,
        0,
        s >>> 0,
        Math.floor(s / 2 ** 32) >>> 0,
        this.words,
      );
      this.next = 0;
    }
    return (this.words[this.next++] + 0.5) / 2 ** 32;
  }
}

/** `count` samples of `d` under `seed` (a non-negative integer below 2^53), rounded to float32. */
export function synthetic(d: Distribution, count: number, seed: number): Float32Array {
  const rng = new UniformStream(seed);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    switch (d.kind) {
      case "gaussian": {
        // Box-Muller, both outputs used
        const r = Math.sqrt(-2 * Math.log(rng.uniform()));
        const theta = 2 * Math.PI * rng.uniform();
        out[i] = r * Math.cos(theta);
        if (i + 1 < count) out[++i] = r * Math.sin(theta);
        break;
      }
      case "laplace": {
        const u = rng.uniform() - 0.5;
        out[i] = -Math.sign(u) * Math.log(1 - 2 * Math.abs(u));
        break;
      }
      case "student-t":
        out[i] = studentT(rng, d.nu);
        break;
      case "uniform":
        out[i] = 2 * rng.uniform() - 1;
        break;
      case "outliers":
        out[i] = gaussian(rng) * (rng.uniform() < OUTLIER_RATE ? OUTLIER_GAIN : 1);
        break;
    }
  }
  return out;
}

const OUTLIER_RATE = 1 / 256;
const OUTLIER_GAIN = 16;

function gaussian(rng: UniformStream): number {
  return Math.sqrt(-2 * Math.log(rng.uniform())) * Math.cos(2 * Math.PI * rng.uniform());
}

/** The standard deviation of `d`; Student's t with nu <= 2 (infinite variance) gets its scale, 1. */
export function distributionSigma(d: Distribution): number {
  switch (d.kind) {
    case "gaussian":
      return 1;
    case "laplace":
      return Math.SQRT2;
    case "student-t":
      return d.nu > 2 ? Math.sqrt(d.nu / (d.nu - 2)) : 1;
    case "uniform":
      return 1 / Math.sqrt(3);
    case "outliers":
      return Math.sqrt(1 + (OUTLIER_GAIN ** 2 - 1) * OUTLIER_RATE);
  }
}

/**
 * `count` samples of `d` in groups of `group` with a controlled crest factor:
 * in every group one value (at a random position, random sign) is exactly
 * crest x sigma(d) and the others are draws of `d` below that magnitude
 * (rejection sampling), so every group's max |x| / sigma is `crest`. This is
 * the setting of the closed-form QSNR theory of "INT v.s. FP" (block max =
 * crest factor x sigma); a last partial group is filled the same way.
 */
export function syntheticWithCrest(
  d: Distribution,
  count: number,
  seed: number,
  crest: number,
  group: number,
): Float32Array {
  if (!(crest >= 1 && Number.isFinite(crest)))
    throw new RangeError(`crest factor must be a finite number >= 1, got ${crest}`);
  if (!(Number.isInteger(group) && group >= 1))
    throw new RangeError(`crest group must be a positive integer, got ${group}`);
  const sigma = distributionSigma(d);
  const peak = Math.fround(crest * sigma);
  // draws of d in batches from a separate seed stream; each batch is filtered to |x| < peak
  const out = new Float32Array(count);
  const picks = new UniformStream(seed * 2 + 1);
  let batch: Float32Array = new Float32Array(0);
  let used = 0;
  let batchNo = 0;
  const below = (): number => {
    for (let tries = 0; ; tries++) {
      if (used === batch.length) {
        batch = synthetic(d, 4096, (seed + ++batchNo * 0x9e3779b1) % 2 ** 53);
        used = 0;
      }
      const v = batch[used++];
      if (Math.abs(v) < peak) return v;
      if (tries > 1 << 24)
        throw new RangeError(`crest factor ${crest} leaves almost no mass of ${distributionName(d)} below it`);
    }
  };
  for (let start = 0; start < count; start += group) {
    const n = Math.min(group, count - start);
    const at = Math.min(n - 1, Math.floor(picks.uniform() * n));
    for (let i = 0; i < n; i++)
      out[start + i] = i === at ? (picks.uniform() < 0.5 ? -peak : peak) : below();
  }
  return out;
}

/** Bailey's polar method (Math. Comp. 62, 1994): exact for any nu > 0. */
function studentT(rng: UniformStream, nu: number): number {
  for (;;) {
    const u = 2 * rng.uniform() - 1;
    const v = 2 * rng.uniform() - 1;
    const w = u * u + v * v;
    if (w < 1) return u * Math.sqrt((nu * (w ** (-2 / nu) - 1)) / w);
  }
}
