/**
 * Scale placement for block-scaled tensor-core GEMMs. NVIDIA's 128x4 swizzle
 * (cuBLASLt, CUTLASS, cuDNN "F8_128x4"): the scale matrix S[R, C] is padded to
 * R multiple of 128 and C multiple of 4, cut into 128x4 tiles of 512 bytes
 * stored tile-row-major, and inside a tile row r lands at (r % 32) * 16 + ((r % 128) / 32) * 4.
 */

export const padTo = (n: number, m: number) => Math.ceil(n / m) * m;

/** The stored shape of a [rows, cols] scale matrix in the 128x4 layout: [pad(rows, 128), pad(cols, 4)]. */
export const nvidia128x4Shape = (rows: number, cols: number): [number, number] => [
  padTo(rows, 128),
  padTo(cols, 4),
];

/** Byte offset of scale (r, c) in the swizzled layout of a matrix with `cols` scale columns. */
export function nvidia128x4Offset(r: number, c: number, cols: number): number {
  const tilesPerRow = padTo(cols, 4) / 4;
  return (
    (Math.floor(r / 128) * tilesPerRow + Math.floor(c / 4)) * 512 +
    (r % 32) * 16 +
    Math.floor((r % 128) / 32) * 4 +
    (c % 4)
  );
}

/** Swizzles a row-major [rows, cols] scale matrix; padding bytes are `fill`. */
export function swizzleNvidia128x4(
  scales: Uint8Array,
  rows: number,
  cols: number,
  fill = 0,
): Uint8Array {
  const [rowsPad, colsPad] = nvidia128x4Shape(rows, cols);
  const out = new Uint8Array(rowsPad * colsPad).fill(fill);
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < cols; c++) out[nvidia128x4Offset(r, c, cols)] = scales[r * cols + c];
  return out;
}

export function unswizzleNvidia128x4(swizzled: Uint8Array, rows: number, cols: number): Uint8Array {
  const out = new Uint8Array(rows * cols);
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < cols; c++) out[r * cols + c] = swizzled[nvidia128x4Offset(r, c, cols)];
  return out;
}
