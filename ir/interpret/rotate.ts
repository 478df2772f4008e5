/**
 * Block Hadamard rotation: each run of `size` consecutive elements along the
 * last axis becomes fl32(H (s * x)) / sqrt(size) with H the Sylvester Hadamard
 * matrix (unnormalised butterflies in a fixed order) and s optional random signs.
 */
import type { Rotation } from "../program.js";
import { randomBits } from "../philox.js";

const fl32 = Math.fround;

/** The sign (+1 / -1) of position p (0..size-1): the top bit of Philox word p under the seed. */
export function rotationSigns(r: Rotation): Float32Array {
  return Float32Array.from({ length: r.size }, (_, p) =>
    r.seed === undefined ? 1 : randomBits(r.seed, p, 1) ? -1 : 1,
  );
}

/**
 * In place on `x` (length a multiple of size): signs, then the butterflies
 * h = 1, 2, 4, ...: (a, b) -> (a + b, a - b) for j in each pair of halves,
 * then one multiply by fl32(1 / sqrt(size)).
 */
export function rotateInPlace(x: Float32Array, r: Rotation): void {
  const n = r.size;
  if (x.length % n !== 0)
    throw new RangeError(
      `rotate: the rotated axis has ${x.length} elements, not a multiple of the Hadamard size ${n}`,
    );
  const signs = rotationSigns(r);
  const norm = fl32(1 / Math.sqrt(n));
  for (let base = 0; base < x.length; base += n) {
    for (let p = 0; p < n; p++) x[base + p] = x[base + p] * signs[p];
    for (let h = 1; h < n; h *= 2)
      for (let i = base; i < base + n; i += 2 * h)
        for (let j = i; j < i + h; j++) {
          const a = x[j];
          const b = x[j + h];
          x[j] = fl32(a + b);
          x[j + h] = fl32(a - b);
        }
    for (let p = 0; p < n; p++) x[base + p] = fl32(x[base + p] * norm);
  }
}

/** A rotated copy of a row-major tensor, rotating along its last axis. */
export function rotate(x: Float32Array, shape: readonly number[], r: Rotation): Float32Array {
  const last = shape.length ? shape[shape.length - 1] : x.length;
  if (last % r.size !== 0)
    throw new RangeError(
      `rotate: the last axis has ${last} elements, not a multiple of the Hadamard size ${r.size}; pad it or pick a size that divides it`,
    );
  const y = Float32Array.from(x);
  rotateInPlace(y, r);
  return y;
}
