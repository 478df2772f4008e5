/** Exact float64 bit-level helpers shared by the format codecs. */

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);
f64[0] = 2;
if (u32[1] !== 0x40000000) throw new Error("qkc needs a little-endian host");

/** floor(log2(a)) for a normal float64 a > 0, read from the exponent field (Math.log2 is not exact). */
export function floorLog2(a: number): number {
  f64[0] = a;
  return (u32[1] >>> 20) - 1023;
}

const POW2_MIN = -1074;
const POW2 = new Float64Array(1023 - POW2_MIN + 1).map((_, i) => 2 ** (i + POW2_MIN));

/** 2^k exactly, for integer k in [-1074, 1023]; 0 or Infinity outside. */
export function pow2(k: number): number {
  if (k < POW2_MIN) return 0;
  if (k > 1023) return Infinity;
  return POW2[k - POW2_MIN];
}

export function isNegative(x: number): boolean {
  return x < 0 || (x === 0 && 1 / x < 0);
}
