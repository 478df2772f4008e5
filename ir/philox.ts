/**
 * Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3",
 * SC'11), the counter-based generator behind qkc's stochastic rounding.
 * Every backend implements the same function; the stream is keyed by
 * (seed, element index), so results do not depend on threading or tiling.
 */

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;

/** High 32 bits of the 64-bit product of two uint32 values. */
function mulhi(a: number, b: number): number {
  const al = a & 0xffff;
  const ah = a >>> 16;
  const bl = b & 0xffff;
  const bh = b >>> 16;
  const lohi = al * bh;
  const cross = ((al * bl) >>> 16) + (lohi & 0xffff) + ah * bl; // < 2^33, exact in float64
  return (ah * bh + (lohi >>> 16) + Math.floor(cross / 65536)) >>> 0;
}

/** One Philox4x32-10 block: 4 counter words and 2 key words in, 4 uint32 words out. */
export function philox4x32(
  c0: number,
  c1: number,
  c2: number,
  c3: number,
  k0: number,
  k1: number,
  out: Uint32Array = new Uint32Array(4),
): Uint32Array {
  for (let round = 0; round < 10; round++) {
    if (round > 0) {
      k0 = (k0 + W0) >>> 0;
      k1 = (k1 + W1) >>> 0;
    }
    const hi0 = mulhi(M0, c0);
    const lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulhi(M1, c2);
    const lo1 = Math.imul(M1, c2) >>> 0;
    c0 = (hi1 ^ c1 ^ k0) >>> 0;
    c1 = lo1;
    c2 = (hi0 ^ c3 ^ k1) >>> 0;
    c3 = lo0;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
  return out;
}

const scratch = new Uint32Array(4);

/**
 * The random bits for tensor element `index` under `seed`: element i takes word
 * i % 4 of the block at counter (floor(i / 4), 0, 0) [64-bit little-endian in
 * words 0-1], key (seed mod 2^32, floor(seed / 2^32)), and keeps its top `bits` bits.
 */
export function randomBits(seed: number, index: number, bits: number): number {
  const block = Math.floor(index / 4);
  philox4x32(
    block >>> 0,
    Math.floor(block / 2 ** 32) >>> 0,
    0,
    0,
    seed >>> 0,
    Math.floor(seed / 2 ** 32) >>> 0,
    scratch,
  );
  const word = scratch[index % 4];
  return bits >= 32 ? word : word >>> (32 - bits);
}
