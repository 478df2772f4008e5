/**
 * Closed-form QSNR of block quantization on Gaussian blocks against the crest
 * factor k = max|x| / sigma ("INT v.s. FP", arXiv 2510.25602; SEMANTICS.md
 * section 6). The block scale maps the block max to Qmax / rho, rho >= 1 being
 * the overhead of the scale format (about 1.5 for a power-of-two scale, 1 for
 * an exact one).
 *
 * - INT with b bits (2^(b-1) levels a side): a uniform step, noise step^2 / 12:
 *   QSNR = 10 log10(12 4^(b-1)) - 20 log10(rho) - 20 log10(k)
 *        = 4.77 + 6.02 b - 20 log10(rho) - 20 log10(k).
 * - FP with M mantissa bits: a normal value y has relative step 2^-M, so with
 *   the mantissa uniform in [1, 2) its noise is y^2 4^-M / 24 (13.80 + 6.02 M dB
 *   when every value is normal); values below the smallest normal N_min (in
 *   element units) have the absolute subnormal step D instead. With
 *   t = N_min rho k / Qmax the threshold in units of sigma, p = P(|x| < t) and
 *   w = E[x^2; |x| >= t]:
 *   QSNR = -10 log10( w 4^-M / 24 + p (D rho k / Qmax)^2 / 12 ).
 */
import { codec, type Format } from "../ir/formats/index.js";

const LOG10 = (x: number) => Math.log10(x);

/** `levels`: positive integer levels the block max can reach (default 2^(bits-1); a scale of amax / 7 gives 7) */
export function intQsnrDb(bits: number, crest: number, rho: number, levels = 2 ** (bits - 1)): number {
  return 10 * LOG10(12 * levels * levels) - 20 * LOG10(rho) - 20 * LOG10(crest);
}

export interface FpShape {
  readonly mantissa: number;
  /** smallest positive normal */
  readonly minNormal: number;
  /** step between subnormals */
  readonly subnormalStep: number;
  /** largest finite value */
  readonly max: number;
}

/** The FP theory's parameters of a float element format. */
export function fpShape(f: Format): FpShape {
  if (f.kind !== "float") throw new RangeError(`${f.name} is not a float format`);
  const minNormal = 2 ** (1 - f.bias);
  return { mantissa: f.mantissa, minNormal, subnormalStep: minNormal * 2 ** -f.mantissa, max: codec(f).maxFinite };
}

/** erf from the Chebyshev fit of erfc in Numerical Recipes (fractional error < 1.2e-7): ample for dB to 0.001 */
export function erf(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? 1 - r : r - 1;
}

export function fpQsnrDb(f: FpShape, crest: number, rho: number): number {
  const t = (f.minNormal * rho * crest) / f.max;
  const p = erf(t / Math.SQRT2);
  const density = Math.exp((-t * t) / 2) / Math.sqrt(2 * Math.PI);
  const w = 1 - (p - 2 * t * density);
  const sub = (f.subnormalStep * rho * crest) / f.max;
  return -10 * LOG10((w * 4 ** -f.mantissa) / 24 + (p * sub * sub) / 12);
}

/**
 * The root of f (a decreasing-then-negative difference) in [lo, hi] by bisection,
 * to `tol`; undefined when f does not change sign over the interval.
 */
export function bisect(f: (k: number) => number, lo: number, hi: number, tol = 1e-4): number | undefined {
  let flo = f(lo);
  const fhi = f(hi);
  if (Number.isNaN(flo) || Number.isNaN(fhi) || Math.sign(flo) === Math.sign(fhi)) return undefined;
  while (hi - lo > tol) {
    const mid = (lo + hi) / 2;
    const fm = f(mid);
    if (Math.sign(fm) === Math.sign(flo)) {
      lo = mid;
      flo = fm;
    } else hi = mid;
  }
  return (lo + hi) / 2;
}
