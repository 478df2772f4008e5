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
  | { readonly kind: "uniform" };

export const DISTRIBUTIONS = "gaussian, laplace, student-t:NU or uniform";

/** Parses "gaussian", "laplace", "student-t:NU", "uniform"; throws RangeError naming the choices. */
export function parseDistribution(text: string): Distribution {
  const [name, arg] = text.split(":", 2);
  if (name === "student-t") {
    const nu = Number(arg);
    if (arg === undefined || arg === "" || !(nu > 0 && Number.isFinite(nu)))
      throw new RangeError(`student-t needs positive degrees of freedom, e.g. student-t:5`);
    return { kind: "student-t", nu };
  }
  if (arg === undefined && (name === "gaussian" || name === "laplace" || name === "uniform"))
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
    }
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
